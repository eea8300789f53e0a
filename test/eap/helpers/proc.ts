/** Child-process helpers for the interop tests. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Proc {
  readonly child: ChildProcess;
  output(): string;
  waitFor(re: RegExp, timeoutMs: number): Promise<string>;
  stop(): Promise<void>;
}

export function startProc(cmd: string, args: string[], cwd?: string): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
  let out = '';
  const waiters: (() => void)[] = [];
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((r) =>
    child.on('exit', () => {
      for (const w of [...waiters]) w();
      r();
    }),
  );
  return {
    child,
    output: () => out,
    waitFor: (re, timeoutMs) =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) {
            cleanup();
            resolve(m[0]);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            cleanup();
            reject(new Error(`${cmd} exited before ${re}`));
          }
        };
        const t = setTimeout(() => {
          cleanup();
          reject(new Error(`timeout waiting for ${re} from ${cmd}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(t);
          const i = waiters.indexOf(check);
          if (i >= 0) waiters.splice(i, 1);
        };
        waiters.push(check);
        check();
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Parses a hostapd/wpa_supplicant "<title> - hexdump(len=N): aa bb ..." line into bytes. */
export function hexdumpFromLog(log: string, title: string): Buffer | undefined {
  const esc = title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`${esc} - hexdump\\(len=\\d+\\):((?: [0-9a-f]{2})+)`).exec(log);
  return m ? Buffer.from(m[1]!.replace(/ /g, ''), 'hex') : undefined;
}
