import { describe, expect, it } from 'vitest';
import { ParamError, Params, paramsOf } from '../../src/osm/params.js';

describe('osm params (YAML as LCM sends it)', () => {
  it('reads a flow-style yaml.dump document with ints, nulls and nested flow strings', () => {
    // What PyYAML's yaml.dump(d, default_flow_style=True) produces for LCM's parameter dict.
    const text =
      "{agent_id: nn1, channel_name: vnf-a, endpoints: '[{agent_id: nn1, switch_port: vp1, vnf_id: vnf1,\n    vnf_interface: eth1}]\n\n    ', psk_cak_hex: null, wait_timeout_seconds: 30}\n";
    const p = Params.parse(text);
    expect(p.str('channel_name')).toBe('vnf-a');
    expect(p.int('wait_timeout_seconds')).toBe(30);
    expect(p.str('psk_cak_hex')).toBeUndefined();
    const eps = p.list('endpoints')!;
    expect(eps).toHaveLength(1);
    const e = paramsOf(eps[0], 'endpoints[0]');
    expect(e.str('switch_port')).toBe('vp1');
    expect(e.str('vnf_interface')).toBe('eth1');
  });

  it('reads block style, dashed keys, and numbers given as strings', () => {
    const p = Params.parse('manager-address: mgr:50051\ntimeout_seconds: "45"\nwait_secured: yes\n');
    expect(p.str('manager_address')).toBe('mgr:50051');
    expect(p.int('timeout_seconds')).toBe(45);
    expect(p.bool('wait_secured', false)).toBe(true);
  });

  it('reads plain scalars the way PyYAML resolves them', () => {
    // yaml.dump({'a':'yes','b':'n','c':'0755','h':'1e3','e':True,'f':None,'i':12,'j':1.5}, default_flow_style=True)
    const p = Params.parse("{a: 'yes', b: n, c: '0755', e: true, f: null, h: 1e3, i: 12, j: 1.5, k: 0o17}\n");
    expect(p.raw('a')).toBe('yes');
    expect(p.raw('b')).toBe('n');
    expect(p.raw('c')).toBe('0755');
    expect(p.raw('e')).toBe(true);
    expect(p.raw('f')).toBeUndefined();
    expect(p.raw('h')).toBe('1e3');
    expect(p.raw('i')).toBe(12);
    expect(p.raw('j')).toBe(1.5);
    expect(p.raw('k')).toBe('0o17');
  });

  it('treats empty, null and {} as no parameters', () => {
    for (const t of ['', '  \n', 'null\n', '{}\n', '~']) expect(Params.parse(t).keys()).toEqual([]);
  });

  it('accepts comma-separated lists and real lists', () => {
    expect(Params.parse('ports: vp1, vp2\n').list('ports')).toEqual(['vp1', 'vp2']);
    expect(Params.parse("ports: '[vp1, vp2]'\n").list('ports')).toEqual(['vp1', 'vp2']);
    expect(Params.parse('ports: [vp1, vp2]\n').list('ports')).toEqual(['vp1', 'vp2']);
  });

  it('refuses malformed YAML with the line and column', () => {
    expect(() => Params.parse('{channel_name: a, endpoints: [\n')).toThrow(ParamError);
    expect(() => Params.parse('a: 1\na: 2\n')).toThrow(/not valid YAML/);
    try {
      Params.parse('key: [unclosed\nother: x\n');
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toMatch(/^params is not valid YAML: .* at line \d+, column \d+$/);
    }
  });

  it('refuses a document that is not a mapping', () => {
    expect(() => Params.parse('- a\n- b\n')).toThrow(/must be a YAML mapping.*list/);
    expect(() => Params.parse('just a string\n')).toThrow(/must be a YAML mapping.*string/);
  });

  it('names the parameter in type errors', () => {
    const p = Params.parse('n: abc\nb: maybe\ns: [1]\n');
    expect(() => p.int('n')).toThrow("parameter 'n' must be an integer");
    expect(() => p.bool('b', false)).toThrow("parameter 'b' must be a boolean");
    expect(() => p.str('s')).toThrow("parameter 's' must be a string, got a list");
    expect(() => p.str('missing', { required: true })).toThrow("parameter 'missing' is required");
    expect(() => paramsOf({ port: 'x y' }, 'endpoints[2]').str('port', { pattern: /^\w+$/ })).toThrow("parameter 'endpoints[2].port'");
  });
});
