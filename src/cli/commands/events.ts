/** `macsecctl events`: the WatchEvents stream, one line (or JSON object) per event. */
import { status } from '@grpc/grpc-js';
import type { CommandSpec } from '../command.js';
import { Event, EventType } from '../../control/gen/macsec/v1/manager.js';
import { CONN, num, opt, short, withApi } from './manager.js';

export const eventsCommand: CommandSpec = {
  path: ['events'],
  summary: 'Stream events (agent up/down, secured, rekeyed, peer lost, errors); Ctrl-C to stop',
  options: {
    ...CONN,
    since: { type: 'string', description: 'replay retained events after this sequence number (default 0: all retained)' },
    agent: { type: 'string', description: 'only this agent' },
    channel: { type: 'string', description: 'only this channel id' },
    count: { type: 'string', description: 'exit after this many events' },
  },
  run: (ctx) =>
    withApi(
      ctx,
      (api) =>
        new Promise<number>((resolve, reject) => {
          const max = num(ctx, 'count');
          let n = 0;
          const s = api.watchEvents({ sinceSeq: num(ctx, 'since') ?? 0, agentId: opt(ctx, 'agent') ?? '', channelId: opt(ctx, 'channel') ?? '' });
          s.on('data', (e: Event) => {
            if (ctx.options.json) ctx.io.out(JSON.stringify(Event.toJSON(e)));
            else ctx.io.out(`${new Date(e.timeMs).toISOString()} #${e.seq} ${short(EventType[e.type] ?? String(e.type), 'EVENT_TYPE_')} ${e.message}`);
            if (max !== undefined && ++n >= max) {
              s.cancel();
              resolve(0);
            }
          });
          s.on('error', (e: { code?: number }) => (e.code === status.CANCELLED ? resolve(0) : reject(e)));
          s.on('end', () => resolve(0));
        }),
    ),
};
