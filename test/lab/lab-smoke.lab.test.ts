/**
 * Proves the kernel lab works: boots UML, builds a static-key MACsec link
 * between two namespaces with `ip macsec`, and pings through it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LabError, REPO_ROOT, readOutJson, runLab, type LabResult } from './uml.js';

const readOut = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8');

/** Subset of `ip -s -j macsec show` (iproute2 6.1) that the test reads. */
interface MacsecShow {
  ifname: string;
  cipher_suite: string;
  OutPktsEncrypted: number;
  rx_sc: { sci: string; InPktsOK: number; sa_list: { an: number; InPktsOK: number }[] }[];
}

interface SmokeJson {
  ping: { exitCode: number; output: string };
  macsecA: MacsecShow[];
  macsecB: MacsecShow[];
  macsecText: string;
}

// Each side has its own TX key; the peer installs it as an RX SA.
const STATIC_MACSEC = String.raw`
set -u
KEY_A=00112233445566778899aabbccddeeff
KEY_B=ffeeddccbbaa99887766554433221100
MAC_A=02:00:00:00:00:0a
MAC_B=02:00:00:00:00:0b

lab_netns a b
lab_veth a va b vb "$MAC_A" "$MAC_B"

# macsec_side NS LOWER TXKEY TXKEYID PEERMAC PEERKEY PEERKEYID IP
macsec_side() {
  local ns=$1 lower=$2 txkey=$3 txid=$4 peer=$5 rxkey=$6 rxid=$7 ip=$8
  ip -n "$ns" link add link "$lower" macsec0 type macsec port 1 encrypt on || lab_die "macsec link in $ns"
  lab_in "$ns" ip macsec add macsec0 tx sa 0 pn 1 on key "$txid" "$txkey" || lab_die "tx sa in $ns"
  lab_in "$ns" ip macsec add macsec0 rx port 1 address "$peer" || lab_die "rx sc in $ns"
  lab_in "$ns" ip macsec add macsec0 rx port 1 address "$peer" sa 0 pn 1 on key "$rxid" "$rxkey" \
    || lab_die "rx sa in $ns"
  lab_addr "$ns" macsec0 "$ip"
}
macsec_side a va "$KEY_A" 01 "$MAC_B" "$KEY_B" 02 10.9.0.1/24
macsec_side b vb "$KEY_B" 02 "$MAC_A" "$KEY_A" 01 10.9.0.2/24

ping_out=$(lab_in a ping -c 3 -i 0.2 -W 2 10.9.0.2 2>&1); ping_rc=$?
lab_json smoke.json \
  --argjson rc "$ping_rc" --arg out "$ping_out" \
  --argjson a "$(lab_macsec_json a macsec0)" --argjson b "$(lab_macsec_json b macsec0)" \
  --arg text "$(lab_in a ip -s macsec show)" \
  '{ping: {exitCode: $rc, output: $out}, macsecA: $a, macsecB: $b, macsecText: $text}'
`;

const rxPktsOk = (show: MacsecShow[]): number =>
  show
    .flatMap((l) => l.rx_sc)
    .flatMap((sc) => sc.sa_list)
    .reduce((n, sa) => n + sa.InPktsOK, 0);

describe('kernel lab (UML)', () => {
  let lab: LabResult;

  it('boots UML and runs scenarios with $OUT, $REPO and exit codes', async () => {
    lab = await runLab({
      scenarios: [
        { name: 'env', script: 'echo "$REPO" > repo.txt; uname -r > kernel.txt; lsmod > lsmod.txt; exit 3' },
        { name: 'static-macsec', script: STATIC_MACSEC, timeoutMs: 30_000 },
        { name: 'hang', script: 'sleep 600', timeoutMs: 2_000 },
        { name: 'after-hang', script: 'ip -o link show > links.txt; ip netns list > netns.txt' },
      ],
    });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms (${lab.runDir})`);

    const env = lab.scenario('env');
    expect(env.exitCode).toBe(3);
    expect(readOut(env.outDir, 'repo.txt').trim()).toBe(REPO_ROOT);
    expect(readOut(env.outDir, 'lsmod.txt')).toMatch(/^macsec\b/m);

    const hang = lab.scenario('hang');
    expect(hang).toMatchObject({ timedOut: true, exitCode: null, ran: true });

    // The network is reset between scenarios.
    const after = lab.scenario('after-hang');
    expect(after.exitCode).toBe(0);
    expect(readOut(after.outDir, 'links.txt').trim().split('\n')).toHaveLength(1);
    expect(readOut(after.outDir, 'netns.txt').trim()).toBe('');
  }, 120_000);

  it('pings through a static-key MACsec link and the RX SA counters move', () => {
    const smoke = lab.scenario('static-macsec');
    expect(smoke.exitCode, smoke.stderr).toBe(0);
    const json = readOutJson<SmokeJson>(smoke, 'smoke.json');

    expect(json.ping.exitCode, json.ping.output).toBe(0);
    expect(json.ping.output).toMatch(/3 received/);
    for (const side of [json.macsecA, json.macsecB]) {
      expect(side[0]!.cipher_suite).toBe('GCM-AES-128');
      expect(side[0]!.OutPktsEncrypted).toBeGreaterThan(0);
      expect(rxPktsOk(side)).toBeGreaterThanOrEqual(3);
    }
    expect(json.macsecText).toMatch(/RXSC: 02000000000b0001/);
  });
});

describe('kernel lab failure handling', () => {
  it('throws a clear error naming the apt packages when linux.uml is missing', async () => {
    await expect(runLab({ scenarios: [{ name: 'x', script: 'true' }], umlBinary: '/nonexistent/linux.uml' })).rejects.toThrow(
      /not found.*apt-get install -y user-mode-linux/,
    );
  });

  it('kills the whole UML process group when the overall timeout expires', async () => {
    const err: unknown = await runLab({
      scenarios: [{ name: 'stuck', script: 'touch started; sleep 600' }],
      timeoutMs: 12_000,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabError);
    const lab = (err as LabError).result!;
    expect((err as LabError).message).toMatch(/killed after 12000 ms/);
    expect(existsSync(join(lab.scenario('stuck').outDir, 'started'))).toBe(true);
    // No UML process of this run survives (its umid is on the command line).
    const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(ps).not.toContain(lab.runId);
  }, 30_000);
});
