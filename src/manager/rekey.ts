/**
 * ForceRekey: asks the agents of a channel's ports (or of one port) to rekey now. A channel
 * rekey succeeds when a key server accepted it (only the key server distributes a new SAK).
 */
import type { Actor } from '../control/authz.js';
import { echo, failedPrecondition } from '../common/errors.js';
import type { Channels } from './channels.js';
import type { ForceRekeyInput, RekeyOutcome } from './model.js';
import { checkRekeyTarget } from './requests.js';
import type { ManagerState } from './state.js';

export async function forceRekey(st: ManagerState, channels: Channels, req: ForceRekeyInput, actor: Actor): Promise<RekeyOutcome[]> {
  const target = checkRekeyTarget(req);
  let pids: string[];
  if ('channelId' in target) {
    const c = channels.get(target.channelId);
    st.checkOwner(actor, c.owner, `secure channel '${c.name}'`);
    pids = c.endpointStatus.map((e) => e.portId);
  } else {
    const p = st.lookupPort('port_id', target.portId);
    st.checkOwner(actor, p.owner, `port '${p.id}'`);
    pids = [p.id];
  }
  const results = await Promise.all(pids.map((pid) => rekeyPort(st, pid)));
  if ('portId' in target && !results[0]!.ok) throw failedPrecondition(`port_id: ${echo(results[0]!.error, '', 200)}`);
  if ('channelId' in target && !results.some((r) => r.ok && r.keyServer)) {
    throw failedPrecondition(
      `channel_id: no key server accepted the rekey (${results.map((r) => `${r.portId}: ${r.error ? echo(r.error, '', 200) : 'not key server'}`).join('; ')})`,
    );
  }
  return results;
}

async function rekeyPort(st: ManagerState, pid: string): Promise<RekeyOutcome> {
  const failed = (error: string): RekeyOutcome => ({ portId: pid, ok: false, error, keyServer: false, keyNumber: 0 });
  const agentId = pid.split('/')[0]!;
  if (!st.connected(agentId)) return failed(`agent '${agentId}' is not connected`);
  try {
    const r = await st.command(agentId, { forceRekey: { portId: pid } });
    return { portId: pid, ok: r.ok, error: r.error, keyServer: r.status?.keyServer ?? false, keyNumber: r.status?.keyNumber ?? 0 };
  } catch (e) {
    return failed((e as Error).message);
  }
}
