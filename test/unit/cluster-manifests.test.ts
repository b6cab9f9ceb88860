// parseManifests reads JSON itself (JSON.parse, the fast path the lab and benches
// take) and everything else through the YAML parser: both must give the same
// objects, the same errors, located the same way.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { parseManifests } from '../../src/cluster/manifests.js';

const ns = (name: string): object => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { team: name } } });
const list = { apiVersion: 'v1', kind: 'List', items: [ns('a'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Bad_Name' } }, ns('b')] };

describe('parseManifests, JSON and YAML alike', () => {
  it('a List with a bad item: the same objects and the same located error either way', () => {
    const fromJson = parseManifests('f.json', JSON.stringify(list));
    const fromYaml = parseManifests('f.json', stringify(list));
    expect(fromJson.objects.map((o) => o.item)).toEqual([0, 2]);
    expect(fromJson.errors).toHaveLength(1);
    expect(fromJson.errors[0]).toMatchObject({ document: 0, item: 1, field: 'metadata.name' });
    expect(fromJson).toEqual(fromYaml);
  });

  it('text that only looks like JSON is YAML’s to read and to explain', () => {
    const yamlFlow = '{kind: Namespace, apiVersion: v1, metadata: {name: c}}';
    expect(parseManifests('f.yaml', yamlFlow).objects).toHaveLength(1);
    const broken = parseManifests('f.json', '{"kind": "Namespace", ');
    expect(broken.objects).toEqual([]);
    expect(broken.errors[0]?.message).toMatch(/not valid YAML/);
  });
});
