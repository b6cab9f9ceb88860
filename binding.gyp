{
  # One addon, strait.node: netlink (libnl-route-3), network-namespace work, flock,
  # and libbpf (loading and pinning the BPF objects, tc attach, map operations).
  'targets': [
    {
      'target_name': 'strait',
      'sources': [
        'native/addon.cc',
        'native/errors.cc',
        'native/netns.cc',
        'native/nlsock.cc',
        'native/nlconv.cc',
        'native/netlink.cc',
        'native/netlink_link.cc',
        'native/netlink_async.cc',
        'native/netlink_vxlan.cc',
        'native/netlink_addr.cc',
        'native/netlink_route.cc',
        'native/netlink_neigh.cc',
        'native/flock.cc',
        'native/bpf_object.cc',
        'native/bpf_map.cc',
        'native/bpf_tc.cc',
        'native/bpf_prog.cc',
        'native/bpf_ring.cc',
      ],
      # node_addon_api_except: C++ exceptions on, so a Napi::Error thrown deep in a
      # helper unwinds (and runs the RAII releases of libnl objects) up to the
      # binding, which turns it into a JS exception.
      'dependencies': [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except",
      ],
      'defines': [ 'NAPI_VERSION=8', 'NODE_ADDON_API_DISABLE_DEPRECATED' ],
      'cflags_cc': [
        '-std=c++17',
        '-Wall', '-Wextra', '-Wno-missing-field-initializers',
        '<!@(pkg-config --cflags libnl-route-3.0 libnl-3.0 libbpf)',
      ],
      'cflags_cc!': [ '-std=gnu++17', '-std=gnu++20', '-fno-exceptions', '-fno-rtti' ],
      'libraries': [
        '<!@(pkg-config --libs libnl-route-3.0 libnl-3.0 libbpf)',
        '-pthread',
      ],
      'ldflags': [ '-pthread' ],
    },
  ],
}
