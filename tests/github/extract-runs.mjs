// Writes every run: script of action.yml and the workflows to OUTDIR, one file each, with a bash
// shebang, for shellcheck (scripts/test-github). Prints the files written.
import fs from "node:fs";
import path from "node:path";
import { allRunScripts } from "./lib.mjs";

const out = process.argv[2];
if (!out) {
  console.error("usage: node extract-runs.mjs OUTDIR");
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
for (const s of allRunScripts()) {
  const name = `${s.file}--${s.where}`.replace(/^\.github\/workflows\//, "").replace(/[^A-Za-z0-9._-]+/g, "_") + ".sh";
  const file = path.join(out, name);
  // The runner runs `shell: bash` steps as bash --noprofile --norc -eo pipefail FILE.
  fs.writeFileSync(file, `#!/usr/bin/env bash\n# ${s.file}: ${s.where}\nset -eo pipefail\n${s.run}`);
  console.log(file);
}
