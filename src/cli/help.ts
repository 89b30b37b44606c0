/** `ssh-sync --help`. */
export const HELP = `ssh-sync: keep a local folder and a peer folder in step.

Usage:
  ssh-sync sync <local-dir> <peer> [<peer>...] [options]
  ssh-sync watch <local-dir> <peer> [options]        (the same as sync --continuous)
  ssh-sync conflicts [list|show <path>|resolve <path> --keep local|remote|both] (--name NAME | <local-dir> <peer>)
  ssh-sync status [--name NAME]

<peer> is a folder on this machine (a path), or a folder over SSH:
  [user@]host[:port]:/path     ssh://user@host:port/path     alias:/path (a ~/.ssh/config Host)
  (a path under the remote home: host:~/dir)

SSH options:
  --identity FILE                private key to use (repeatable; default: the agent, then ~/.ssh/id_*)
  --port N                       port (overrides the address and ~/.ssh/config)
  --ssh-config FILE              ssh client config to read instead of ~/.ssh/config
  --known-hosts FILE             known_hosts to check the server key against (default ~/.ssh/known_hosts)
  --accept-new-host-key          trust and record a server key seen for the first time (a changed key
                                 is always refused)

Sync options:
  --direction push|pull|bidi     push: local -> peer, pull: peer -> local, bidi: both ways (default bidi)
  --rescan                       drop the snapshot and compare both sides in full
  --dry-run                      show what would be done, change nothing
  --include GLOB, --exclude GLOB ordered filters, first match wins (repeatable)
  --overwrite always|newer|never how a changed target is treated (default: always one-way, never bidi)
  --no-delete                    do not propagate deletions
  --symlinks copy|skip|follow    recreate links (default), ignore them, or sync what they point to
  --preserve LIST                comma list of times,mode,owner (default times,mode; 'none' for none)
  --max-delete N                 halt when a run would delete more than N files (default: half when over 100)
  --force                        go ahead even when the mass-delete guard halts
  --name NAME                    name the session (and its snapshot)
  --state-dir DIR                where snapshots live (default $XDG_STATE_HOME/ssh-sync)
  --continuous                   after the first sync keep watching and sync each change (Ctrl-C stops)
  --interval SECONDS             after the first sync run again every SECONDS (no change events needed)
  --cooloff-ms N                 quiet time after a change before it is synced (default 30)
  --remote-poll-seconds N        how often a peer without change events is listed (default 5)
  --json                         one JSON object per event, then a summary
  --quiet                        only conflicts, problems and the summary

Several peers sync the local folder with each at once, each with its own snapshot.

Exit codes: 0 in sync, 3 finished with conflicts, 2 usage error, 1 failure, 130 interrupted.
`;
