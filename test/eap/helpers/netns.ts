/**
 * Network namespaces and veth pairs created (and deleted) by the tests. Only interfaces created
 * here are ever used to send frames; nothing is sent on pre-existing interfaces.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export function canUseNetns(): boolean {
  try {
    const probe = `eapprobe${randomBytes(3).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface VethLab {
  readonly nsA: string;
  readonly nsB: string;
  readonly ifA: string;
  readonly ifB: string;
  readonly macA: string;
  readonly macB: string;
  destroy(): void;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Two fresh namespaces joined by a fresh veth pair (ifA in nsA, ifB in nsB), both up. */
export function createVethLab(macA = '02:00:00:0a:00:01', macB = '02:00:00:0b:00:02'): VethLab {
  const tag = randomBytes(3).toString('hex');
  const nsA = `eapt${tag}a`;
  const nsB = `eapt${tag}b`;
  const ifA = `ea${tag}`;
  const ifB = `eb${tag}`;
  ip(['netns', 'add', nsA]);
  ip(['netns', 'add', nsB]);
  try {
    // Created directly inside the namespaces: never appears in the root namespace.
    ip(['-n', nsA, 'link', 'add', ifA, 'address', macA, 'type', 'veth', 'peer', 'name', ifB, 'address', macB, 'netns', nsB]);
    ip(['-n', nsA, 'link', 'set', ifA, 'up']);
    ip(['-n', nsB, 'link', 'set', ifB, 'up']);
    ip(['-n', nsA, 'link', 'set', 'lo', 'up']);
    ip(['-n', nsB, 'link', 'set', 'lo', 'up']);
  } catch (e) {
    try {
      ip(['netns', 'del', nsA]);
    } catch {
      /* ignore */
    }
    try {
      ip(['netns', 'del', nsB]);
    } catch {
      /* ignore */
    }
    throw e;
  }
  return {
    nsA,
    nsB,
    ifA,
    ifB,
    macA,
    macB,
    destroy() {
      for (const ns of [nsA, nsB]) {
        try {
          ip(['netns', 'del', ns]);
        } catch {
          /* already gone */
        }
      }
    },
  };
}
