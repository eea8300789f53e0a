/**
 * Kernel lab harness: runs bash scenarios inside a User-Mode Linux (UML)
 * kernel, which has MACsec even though the host kernel does not.
 *
 * The guest shares the host's root filesystem through hostfs, so host tools
 * (ip, wpa_supplicant, tcpdump, node) run inside unchanged, and scenario
 * results written to $OUT (a host path under <repo>/.lab/) are visible to the
 * host after the run. The guest has no network device from the host: all
 * networking happens in its own kernel.
 *
 * See test/lab/README.md for usage.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const LAB_LIB = join(REPO_ROOT, 'test/lab/lib.sh');
const DEFAULT_UML_BINARY = '/usr/bin/linux.uml';
const UML_MODULES = '/usr/lib/uml/modules';

/** Modules the lab cannot work without; missing ones abort the boot. */
const REQUIRED_MODULES = ['macsec', 'veth', 'bridge'];
/** Modules loaded when present (crypto for MACsec, VLAN, OVS). af_packet is built in. */
const OPTIONAL_MODULES = ['8021q', 'af_packet', 'gcm', 'ghash-generic', 'ctr', 'cmac', 'openvswitch'];

const DEFAULT_SCENARIO_TIMEOUT_MS = 60_000;
/** Allowance for boot, module loading and halt on top of the scenario timeouts. */
const BOOT_ALLOWANCE_MS = 30_000;
const TAIL_BYTES = 8_192;
const INIT_MARKER = 'LAB-INIT-START';

export interface LabScenario {
  /** Unique name; becomes the results directory name ([A-Za-z0-9][A-Za-z0-9._-]*). */
  name: string;
  /** Bash script body, run with bash after `source $LAB_LIB`. */
  script: string;
  /** Kill the scenario after this long (default 60 s). */
  timeoutMs?: number;
  /** Extra environment variables for this scenario. */
  env?: Record<string, string>;
}

export interface LabOptions {
  scenarios: LabScenario[];
  /** Host-side limit for the whole UML run; default: boot allowance + sum of scenario timeouts. */
  timeoutMs?: number;
  /** Guest memory (default 512 MB). */
  memMb?: number;
  /** UML kernel binary (default /usr/bin/linux.uml). */
  umlBinary?: string;
}

export interface ScenarioResult {
  name: string;
  /** Exit code of the script, or null if it timed out or never ran. */
  exitCode: number | null;
  timedOut: boolean;
  /** False if the lab stopped before reaching this scenario. */
  ran: boolean;
  durationMs: number;
  /** Last ~8 KB of the script's stdout / stderr. */
  stdout: string;
  stderr: string;
  /** Host path of the scenario's $OUT directory. */
  outDir: string;
}

export interface LabResult {
  runId: string;
  runDir: string;
  /** Host time from spawning UML until the guest init script started. */
  bootMs: number | null;
  /** Host time from spawn until the UML process exited. */
  totalMs: number;
  /** Last ~8 KB of the UML console (kernel messages and init output). */
  console: string;
  scenarios: ScenarioResult[];
  /** Look up a scenario's result by name; throws if unknown. */
  scenario(name: string): ScenarioResult;
}

/** Raised when the lab itself fails (not when a scenario exits non-zero). */
export class LabError extends Error {
  constructor(
    message: string,
    readonly result?: LabResult,
  ) {
    super(message);
    this.name = 'LabError';
  }
}

/** Boot one UML kernel, run the scenarios in order, halt, and collect results. */
export async function runLab(opts: LabOptions): Promise<LabResult> {
  const binary = opts.umlBinary ?? DEFAULT_UML_BINARY;
  assertUmlInstalled(binary);
  validateScenarios(opts.scenarios);
  const kernelVersion = findModulesVersion();
  const layout = createRunLayout();
  writeRunFiles(layout, opts.scenarios, kernelVersion);

  const limitMs = opts.timeoutMs ?? defaultTimeout(opts.scenarios);
  const run = await runUml(binary, umlArgs(layout, opts.memMb ?? 512), layout, limitMs);
  const result = collectResult(layout, opts.scenarios, run);
  checkRun(layout, run, result, limitMs);
  return result;
}

// --- preconditions --------------------------------------------------------------

function assertUmlInstalled(binary: string): void {
  try {
    accessSync(binary, constants.X_OK);
  } catch {
    throw new LabError(
      `${binary} not found: the kernel lab needs User-Mode Linux. ` +
        'Install it with: apt-get install -y user-mode-linux kmod iproute2 iputils-ping tcpdump jq ' +
        '(and wpasupplicant for MKA peers).',
    );
  }
}

function validateScenarios(scenarios: LabScenario[]): void {
  if (scenarios.length === 0) throw new LabError('runLab: no scenarios given');
  const seen = new Set<string>();
  for (const s of scenarios) {
    // Names starting with "_" or "." are reserved for harness files.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s.name)) {
      throw new LabError(`runLab: invalid scenario name ${JSON.stringify(s.name)} (use [A-Za-z0-9][A-Za-z0-9._-]*)`);
    }
    if (seen.has(s.name)) throw new LabError(`runLab: duplicate scenario name ${s.name}`);
    seen.add(s.name);
  }
}

/** The guest kernel's modules live in /usr/lib/uml/modules/<version>. */
function findModulesVersion(): string {
  const versions = existsSync(UML_MODULES) ? readdirSync(UML_MODULES) : [];
  if (versions.length !== 1) {
    throw new LabError(`expected exactly one kernel version under ${UML_MODULES}, found [${versions.join(', ')}]; ` + 'reinstall user-mode-linux');
  }
  return versions[0]!;
}

function defaultTimeout(scenarios: LabScenario[]): number {
  const sum = scenarios.reduce((t, s) => t + (s.timeoutMs ?? DEFAULT_SCENARIO_TIMEOUT_MS), 0);
  // Each scenario may also use its kill grace period (see init script).
  return BOOT_ALLOWANCE_MS + sum + scenarios.length * 5_000;
}

// --- run directory ----------------------------------------------------------------

interface RunLayout {
  runId: string;
  runDir: string;
  /** Harness bookkeeping: scenario scripts, exit status, stdout/stderr. */
  harnessDir: string;
  initPath: string;
  consolePath: string;
  doneMarker: string;
  bootErrorPath: string;
}

function createRunLayout(): RunLayout {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const runId = `${stamp}-${randomBytes(3).toString('hex')}`;
  // Under the repository, which the guest sees at the same path (even below /tmp: the init
  // script binds it back over the guest's private /tmp).
  const runDir = join(REPO_ROOT, '.lab', `run-${runId}`);
  const harnessDir = join(runDir, '_harness');
  mkdirSync(join(harnessDir, '_uml'), { recursive: true });
  return {
    runId,
    runDir,
    harnessDir,
    initPath: join(harnessDir, '_init.sh'),
    consolePath: join(runDir, 'console.log'),
    doneMarker: join(harnessDir, '_done'),
    bootErrorPath: join(harnessDir, '_boot-error'),
  };
}

function scenarioOutDir(layout: RunLayout, name: string): string {
  return join(layout.runDir, name);
}

function harnessFile(layout: RunLayout, name: string, suffix: string): string {
  return join(layout.harnessDir, `${name}.${suffix}`);
}

function writeRunFiles(layout: RunLayout, scenarios: LabScenario[], kernelVersion: string): void {
  for (const s of scenarios) {
    mkdirSync(scenarioOutDir(layout, s.name), { recursive: true });
    writeFileSync(harnessFile(layout, s.name, 'sh'), scenarioScript(s), { mode: 0o755 });
  }
  writeFileSync(layout.initPath, initScript(layout, scenarios, kernelVersion), { mode: 0o755 });
}

// --- guest scripts -----------------------------------------------------------------

/** Single-quote a string for bash. */
function sq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function scenarioScript(s: LabScenario): string {
  const env = Object.entries(s.env ?? {})
    .map(([k, v]) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new LabError(`scenario ${s.name}: bad env name ${k}`);
      return `export ${k}=${sq(v)}\n`;
    })
    .join('');
  return `#!/bin/bash\n# Scenario ${s.name} (generated by test/lab/uml.ts)\n${env}source "$LAB_LIB"\n${s.script}\n`;
}

/**
 * The guest's PID 1. It prepares the kernel (mounts, modules), then runs each
 * scenario under `timeout`, records its status in _harness/, and returns the
 * guest to a clean network state before the next one. `halt -f` ends UML.
 */
function initScript(layout: RunLayout, scenarios: LabScenario[], kernelVersion: string): string {
  const runs = scenarios
    .map((s) => {
      const secs = Math.max(1, Math.ceil((s.timeoutMs ?? DEFAULT_SCENARIO_TIMEOUT_MS) / 1000));
      return `run_scenario ${sq(s.name)} ${secs}`;
    })
    .join('\n');

  return `#!/bin/bash
# Generated by test/lab/uml.ts for run ${layout.runId}; runs as PID 1 inside UML.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
export REPO=${sq(REPO_ROOT)} LAB_LIB=${sq(LAB_LIB)} LAB_RUN_DIR=${sq(layout.runDir)}
HARNESS=${sq(layout.harnessDir)}
echo ${INIT_MARKER}
# Console lines carry guest uptime so slow steps are easy to spot.
say() { echo "LAB [$(cut -d' ' -f1 /proc/uptime 2>/dev/null)s] $*"; }

boot_fail() {
  say "boot failed: $*"
  echo "$*" > "$HARNESS/_boot-error"
  halt -f
}

mount -t proc proc /proc || boot_fail "mount /proc"
mount -t sysfs sysfs /sys || boot_fail "mount /sys"
# Guest-private scratch space; hides the host's /tmp and /run from the guest.
mount -t tmpfs tmpfs /run || boot_fail "mount /run"
# A repository cloned under /tmp (CI, a fresh clone) must stay visible: keep the host's /tmp
# reachable, then put the repository back at its own path on top of the private /tmp.
mkdir -p /run/lab/host-tmp && mount --bind /tmp /run/lab/host-tmp || boot_fail "bind the host /tmp"
mount -t tmpfs tmpfs /tmp || boot_fail "mount /tmp"
case "$REPO/" in
  /tmp/*) mkdir -p "$REPO" && mount --bind "/run/lab/host-tmp/\${REPO#/tmp/}" "$REPO" || boot_fail "bind $REPO" ;;
esac
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts && mount -t tmpfs tmpfs /dev/shm
mountpoint -q /dev/pts || mount -t devpts devpts /dev/pts
[ -L /var/run ] || mount -t tmpfs tmpfs /var/run
mkdir -p /run/lab
say "mounted"

# The host has no /lib/modules/<uml version>; give modprobe a private root
# that points at the UML modules, and let the kernel's own module
# auto-loading (request_module) use the same root.
MODROOT=/run/lab/modroot
mkdir -p "$MODROOT/lib/modules"
ln -s ${sq(`${UML_MODULES}/${kernelVersion}`)} "$MODROOT/lib/modules/$(uname -r)"
printf '#!/bin/sh\\nexec /sbin/modprobe -d %s "$@"\\n' "$MODROOT" > /run/lab/modprobe
chmod +x /run/lab/modprobe
echo /run/lab/modprobe > /proc/sys/kernel/modprobe
for m in ${REQUIRED_MODULES.join(' ')}; do
  /run/lab/modprobe "$m" || boot_fail "required module $m did not load"
done
for m in ${OPTIONAL_MODULES.join(' ')}; do
  /run/lab/modprobe "$m" 2>/dev/null || say "optional module $m not loaded"
done
say "modules loaded"
ip link set lo up
say "ready: kernel $(uname -r), $(grep MemTotal /proc/meminfo)"

# Kill every user process except this init (kernel threads have no cmdline).
reap_strays() {
  local p pid
  for p in /proc/[0-9]*; do
    pid=\${p#/proc/}
    [ "$pid" = 1 ] && continue
    [ "$pid" = "$BASHPID" ] && continue
    [ -s "$p/cmdline" ] || continue
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
}

# Return the network to boot state: no netns, no links except lo.
reset_network() {
  ip -all netns delete 2>/dev/null
  local l
  for l in $(ls /sys/class/net); do
    [ "$l" = lo ] || ip link delete "$l" 2>/dev/null
  done
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

run_scenario() {
  local name="$1" secs="$2" start
  export SCENARIO="$name" OUT="$LAB_RUN_DIR/$name" LAB_STATE="/run/lab/$name"
  mkdir -p "$OUT" "$LAB_STATE"
  say "scenario $name: start (timeout \${secs}s)"
  start=$(now_ms)
  # timeout puts the script in its own process group and kills that group on
  # expiry; the status file is written only if the script itself finished.
  ( cd "$OUT" && timeout -k 5 "$secs" bash -c 'bash "$1" < /dev/null; echo $? > "$2"' _ \\
      "$HARNESS/$name.sh" "$HARNESS/$name.rc" \\
      > "$HARNESS/$name.stdout" 2> "$HARNESS/$name.stderr" )
  echo "$(( $(now_ms) - start ))" > "$HARNESS/$name.ms"
  say "scenario $name: end rc=$(cat "$HARNESS/$name.rc" 2>/dev/null || echo timeout)"
  reap_strays
  reset_network
  say "scenario $name: cleaned up"
}

${runs}

echo done > "$HARNESS/_done"
say "all scenarios done; halting"
halt -f
`;
}

// --- UML process ---------------------------------------------------------------------

interface UmlRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  killedForTimeout: boolean;
  bootMs: number | null;
  totalMs: number;
}

/** UML processes still running, killed if the test process exits early. */
const liveUmls = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    // UML forks helper processes for guest userspace; they share its group.
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // ESRCH: group already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveUmls) killGroup(child);
  });
}

function umlArgs(layout: RunLayout, memMb: number): string[] {
  return [
    `mem=${memMb}M`,
    'root=/dev/root',
    'rootfstype=hostfs',
    'rootflags=/',
    'rw',
    `init=${layout.initPath}`,
    // Console on stdin/stdout only; no other consoles, no network devices.
    'con=null',
    'con0=fd:0,fd:1',
    'quiet',
    `umid=lab-${layout.runId}`,
    // Keep UML's pid/mconsole files in the run dir instead of ~/.uml.
    `uml_dir=${join(layout.harnessDir, '_uml')}`,
  ];
}

function runUml(binary: string, args: string[], layout: RunLayout, limitMs: number): Promise<UmlRun> {
  installExitHook();
  const started = Date.now();
  const consoleLog = createWriteStream(layout.consolePath);
  const child = spawn(binary, args, {
    cwd: layout.runDir,
    detached: true, // own process group, so a timeout can kill all of it
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveUmls.add(child);

  let bootMs: number | null = null;
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    consoleLog.write(chunk);
    if (bootMs !== null) return;
    pending = (pending + chunk.toString('latin1')).slice(-4096);
    if (pending.includes(INIT_MARKER)) bootMs = Date.now() - started;
  });
  child.stderr!.on('data', (chunk: Buffer) => consoleLog.write(chunk));

  return new Promise((resolvePromise, reject) => {
    let killedForTimeout = false;
    const timer = setTimeout(() => {
      killedForTimeout = true;
      killGroup(child);
    }, limitMs);

    child.on('error', (err) => {
      clearTimeout(timer);
      liveUmls.delete(child);
      consoleLog.end();
      reject(new LabError(`cannot start ${binary}: ${err.message}`));
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      liveUmls.delete(child);
      killGroup(child); // reap any helper that outlived the main process
      consoleLog.end(() => resolvePromise({ exitCode, signal, killedForTimeout, bootMs, totalMs: Date.now() - started }));
    });
  });
}

// --- results -------------------------------------------------------------------------

function readTail(path: string): string {
  if (!existsSync(path)) return '';
  const buf = readFileSync(path);
  return buf.subarray(Math.max(0, buf.length - TAIL_BYTES)).toString('utf8');
}

function readIntFile(path: string): number | null {
  if (!existsSync(path)) return null;
  const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
  return Number.isNaN(n) ? null : n;
}

function scenarioResult(layout: RunLayout, name: string): ScenarioResult {
  const durationMs = readIntFile(harnessFile(layout, name, 'ms'));
  const exitCode = readIntFile(harnessFile(layout, name, 'rc'));
  const ran = durationMs !== null;
  return {
    name,
    exitCode,
    timedOut: ran && exitCode === null,
    ran,
    durationMs: durationMs ?? 0,
    stdout: readTail(harnessFile(layout, name, 'stdout')),
    stderr: readTail(harnessFile(layout, name, 'stderr')),
    outDir: scenarioOutDir(layout, name),
  };
}

function collectResult(layout: RunLayout, scenarios: LabScenario[], run: UmlRun): LabResult {
  const results = scenarios.map((s) => scenarioResult(layout, s.name));
  return {
    runId: layout.runId,
    runDir: layout.runDir,
    bootMs: run.bootMs,
    totalMs: run.totalMs,
    console: readTail(layout.consolePath),
    scenarios: results,
    scenario(name: string): ScenarioResult {
      const found = results.find((r) => r.name === name);
      if (!found) throw new LabError(`no scenario named ${name} in run ${layout.runId}`);
      return found;
    },
  };
}

/** Turn an incomplete run into a LabError that carries the partial result. */
function checkRun(layout: RunLayout, run: UmlRun, result: LabResult, limitMs: number): void {
  const where = `(run dir ${layout.runDir})\n--- console tail ---\n${result.console}`;
  if (existsSync(layout.bootErrorPath)) {
    const why = readFileSync(layout.bootErrorPath, 'utf8').trim();
    throw new LabError(`UML lab boot failed: ${why} ${where}`, result);
  }
  if (run.killedForTimeout) {
    const done = result.scenarios.filter((s) => s.ran).map((s) => s.name);
    throw new LabError(`UML lab killed after ${limitMs} ms (completed scenarios: [${done.join(', ')}]) ${where}`, result);
  }
  if (!existsSync(layout.doneMarker)) {
    throw new LabError(`UML exited (code ${run.exitCode}, signal ${run.signal}) before finishing the scenarios ${where}`, result);
  }
}

/** Read and parse a JSON file a scenario wrote into its $OUT directory. */
export function readOutJson<T = unknown>(result: ScenarioResult, file: string): T {
  const path = join(result.outDir, file);
  if (!existsSync(path)) {
    throw new Error(
      `scenario ${result.name} did not write ${file} (exit ${result.exitCode}, timedOut ${result.timedOut})\n` + `--- stderr tail ---\n${result.stderr}`,
    );
  }
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
