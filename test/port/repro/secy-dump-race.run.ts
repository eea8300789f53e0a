/** npx tsx test/port/repro/secy-dump-race.run.ts — boots UML and runs secy-dump-race.ts (prints its result). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runLab } from '../../lab/uml.js';

const lab = await runLab({
  scenarios: [{
    name: 'secy-dump-race',
    timeoutMs: 240_000,
    script: 'lab_netns a\nlab_veth a va - vz\nip netns exec a node --import tsx "$REPO/test/port/repro/secy-dump-race.ts" va 200 > "$OUT/result.json"',
  }],
});
const s = lab.scenario('secy-dump-race');
console.log(`exit ${s.exitCode}`, s.stderr.slice(-2000));
console.log(readFileSync(join(s.outDir, 'result.json'), 'utf8'));
