import { SyncError } from '../errors';
import { usage } from './args';
import { EXIT, type Io } from './common';
import { conflictsCommand } from './conflictsCommand';
import { statusCommand } from './statusCommand';
import { HELP } from './help';
import { syncCommand } from './syncCommand';

export { EXIT, type Io } from './common';


export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'sync':
        return await syncCommand(rest, io);
      case 'watch':
        return await syncCommand(rest, io, true);
      case 'conflicts':
        return await conflictsCommand(rest, io);
      case 'status':
        return await statusCommand(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(HELP);
        return command === undefined ? EXIT.usage : EXIT.ok;
      case '--version':
        io.stdout.write(`${require('../../package.json').version}\n`);
        return EXIT.ok;
      default:
        throw usage(`unknown command '${command}' (commands: sync, conflicts, status; see ssh-sync --help)`);
    }
  } catch (err) {
    return reportError(err, io);
  }
}
function reportError(err: unknown, io: Io): number {
  if (err instanceof SyncError) {
    const where = err.path ? ` [${err.path}]` : '';
    io.stderr.write(`ssh-sync: ${err.message}${where}\n`);
    if (err.code === 'Usage') io.stderr.write(`Run 'ssh-sync --help' for usage.\n`);
    return err.code === 'Usage' || err.code === 'Refused' ? EXIT.usage : EXIT.failure;
  }
  io.stderr.write(`ssh-sync: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.failure;
}
