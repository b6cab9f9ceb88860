# Sourced (from the project root) by the scripts: the project's Node.js 24, which
# scripts/setup.sh puts in tools/node24, comes first on PATH, so node, npm, npx and
# everything they start (vitest, tsc, esbuild, node-gyp, the benches) run on it, and
# node-gyp builds against its headers instead of downloading any. (node-gyp's own
# variable, the one npm 11 wants for it: it beats any nodedir in an npmrc.)
export PATH="$PWD/tools/node24/bin:$PATH"
if [ -d tools/node24/include/node ]; then export npm_package_config_node_gyp_nodedir="$PWD/tools/node24"; fi
