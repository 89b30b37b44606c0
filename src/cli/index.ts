import { EXIT, main } from './main';

// If the event loop ever drains before main() settles (an operation whose callback never came), the
// process must not exit 0 as if it had synced: it fails, and says so.
let finished = false;
process.exitCode = EXIT.failure;
process.on('exit', () => {
  if (!finished) process.stderr.write('ssh-sync: the run stopped before it finished (an operation never completed); run it again\n');
});

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env }).then(
  (code) => {
    finished = true;
    process.exitCode = code;
  },
  (err) => {
    finished = true;
    process.stderr.write(`ssh-sync: ${String(err)}\n`);
    process.exitCode = EXIT.failure;
  },
);
