/** A channel's state from its endpoints' reports (src/manager/channel-state.ts). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PortState } from '../../src/control/gen/macsec/v1/types.js';
import { channelPhase, channelTransition, unsecuredPorts, type ChannelHistory } from '../../src/manager/channel-state.js';
import { emptyStatus, type ChannelPhase, type EndpointView } from '../../src/manager/model.js';

const S = PortState;
const ep = (portId: string, state: PortState, agentConnected = true): EndpointView => ({
  endpoint: { agentId: portId.split('/')[0]!, switchPort: portId.split('/')[1]!, vnfId: 'v', vnfInterface: 'eth0' },
  portId,
  agentConnected,
  status: emptyStatus(state),
});
const fresh: ChannelHistory = { secured: false, everSecured: false };
const wasSecured: ChannelHistory = { secured: true, everSecured: true };
const lostOnce: ChannelHistory = { secured: false, everSecured: true };
const ALL_STATES = Object.values(PortState).filter((v): v is PortState => typeof v === 'number' && v >= 0);
const PHASES: ChannelPhase[] = ['pending', 'ready', 'secured', 'degraded', 'failed'];

describe('channelPhase', () => {
  it('is secured when every endpoint is, whatever happened before', () => {
    for (const h of [fresh, wasSecured, lostOnce]) expect(channelPhase([ep('a/p', S.PORT_STATE_SECURED), ep('b/p', S.PORT_STATE_SECURED)], h)).toBe('secured');
  });

  it('is failed as soon as one endpoint failed', () => {
    expect(channelPhase([ep('a/p', S.PORT_STATE_SECURED), ep('b/p', S.PORT_STATE_FAILED)], wasSecured)).toBe('failed');
  });

  it('is ready when every authenticator is up, until it was secured once', () => {
    const up = [ep('a/p', S.PORT_STATE_READY), ep('b/p', S.PORT_STATE_AUTHENTICATING), ep('c/p', S.PORT_STATE_SECURED)];
    expect(channelPhase(up, fresh)).toBe('ready');
    // Losing a secured channel is a degradation, not "ready" again.
    expect(channelPhase(up, wasSecured)).toBe('degraded');
    expect(channelPhase(up, lostOnce)).toBe('ready');
  });

  it('counts an endpoint whose agent is away as disconnected, even if it last reported secured', () => {
    const away = [ep('a/p', S.PORT_STATE_SECURED), ep('b/p', S.PORT_STATE_SECURED, false)];
    expect(channelPhase(away, fresh)).toBe('pending');
    expect(channelPhase(away, lostOnce)).toBe('degraded');
    expect(unsecuredPorts(away)).toEqual(['b/p']);
  });

  it('is pending (or degraded, once secured) while a port is still coming up', () => {
    const starting = [ep('a/p', S.PORT_STATE_PENDING), ep('b/p', S.PORT_STATE_READY)];
    expect(channelPhase(starting, fresh)).toBe('pending');
    expect(channelPhase(starting, lostOnce)).toBe('degraded');
    expect(unsecuredPorts(starting)).toEqual(['a/p', 'b/p']);
  });

  it('does not depend on the order of the endpoints', () => {
    const endpoint = fc.record({ state: fc.constantFrom(...ALL_STATES), connected: fc.boolean() });
    const history = fc.record({ secured: fc.boolean(), everSecured: fc.boolean() });
    fc.assert(
      fc.property(fc.array(endpoint, { minLength: 1, maxLength: 6 }), history, fc.nat(), (es, h, rot) => {
        const views = es.map((e, i) => ep(`a${i}/p`, e.state, e.connected));
        const k = rot % views.length;
        const rotated = [...views.slice(k), ...views.slice(0, k)];
        expect(channelPhase(rotated, h)).toBe(channelPhase(views, h));
        expect(new Set(unsecuredPorts(rotated))).toEqual(new Set(unsecuredPorts(views)));
      }),
    );
  });
});

describe('channelTransition', () => {
  it('reports becoming secured and losing it, and nothing else', () => {
    expect(channelTransition('secured', false)).toBe('secured');
    expect(channelTransition('degraded', true)).toBe('degraded');
    expect(channelTransition('failed', true)).toBe('degraded');
    expect(channelTransition('secured', true)).toBeUndefined();
    expect(channelTransition('ready', false)).toBeUndefined();
    for (const p of PHASES) for (const was of [false, true]) expect(channelTransition(p, was) !== undefined).toBe((p === 'secured') !== was);
  });
});
