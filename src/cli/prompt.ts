/**
 * Asks for a secret on the terminal without echoing it. Without a terminal there is nobody to ask:
 * it returns undefined and the caller fails with a message saying so. The answer is never logged.
 */
export function askSecretOnTty(prompt: string): Promise<string | undefined> {
  const input = process.stdin;
  if (!input.isTTY || !process.stderr.isTTY) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    // No echo before the prompt shows: whatever is typed after it must never appear on the screen.
    input.setRawMode(true);
    input.resume();
    process.stderr.write(prompt.endsWith(' ') ? prompt : `${prompt} `);
    let answer = '';
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish(answer);
        if (ch === '\u0003') return finish(undefined);
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else answer += ch;
      }
    };
    const finish = (value: string | undefined) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      resolve(value);
    };
    input.on('data', onData);
  });
}
