import { SyncError } from '../errors';

/** A flag of the command line: how it takes a value and what values are allowed. */
export interface FlagSpec {
  readonly type: 'boolean' | 'string' | 'number' | 'list';
  readonly choices?: readonly string[];
}

export interface ParsedArgs {
  readonly positionals: string[];
  readonly flags: Map<string, string | boolean | number>;
  /** Repeated flags in the order given (filters depend on their order). */
  readonly ordered: { name: string; value: string }[];
}

/**
 * Strict parsing: an unknown flag, a missing or malformed value is a usage error naming the flag, so a
 * typo never turns into a sync with defaults the user did not ask for.
 */
export function parseArgs(argv: readonly string[], specs: Record<string, FlagSpec>): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | boolean | number>();
  const ordered: { name: string; value: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '-') {
      if (arg.startsWith('-') && arg !== '-') throw usage(`unknown option '${arg}' (options are spelled --name)`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = specs[name];
    if (!spec) throw usage(`unknown option '--${name}'`);
    if (spec.type === 'boolean') {
      if (eq >= 0) throw usage(`--${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw usage(`--${name} needs a value`);
    if (spec.choices && !spec.choices.includes(value)) {
      throw usage(`--${name} must be one of ${spec.choices.join(', ')} (got '${value}')`);
    }
    if (spec.type === 'number') {
      if (!/^\d+$/.test(value)) throw usage(`--${name} must be a whole number (got '${value}')`);
      flags.set(name, Number(value));
    } else if (spec.type === 'list') {
      ordered.push({ name, value });
    } else {
      if (flags.has(name)) throw usage(`--${name} is given twice`);
      flags.set(name, value);
    }
    value = undefined;
  }
  return { positionals, flags, ordered };
}

export function usage(message: string): SyncError {
  return new SyncError('Usage', message);
}
