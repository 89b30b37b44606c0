import * as vscode from 'vscode';

/**
 * Every question the extension asks a person goes through here: quick picks, input boxes, password
 * boxes and explicit confirmations. The real implementation is VS Code's window; tests swap in scripted
 * answers (through the test API), since a test cannot click a notification or type into a quick pick.
 */
export interface PickItem<T> {
  readonly label: string;
  readonly description?: string;
  readonly detail?: string;
  readonly value: T;
}

export interface Prompts {
  pick<T>(title: string, items: readonly PickItem<T>[], options?: { placeholder?: string; allowTyped?: boolean }): Promise<T | string | undefined>;
  input(title: string, options?: { value?: string; prompt?: string; password?: boolean; validate?: (v: string) => string | undefined }): Promise<string | undefined>;
  /** A modal question: resolves to the chosen button, or undefined when dismissed. */
  confirm(message: string, detail: string, buttons: readonly string[]): Promise<string | undefined>;
}

export const windowPrompts: Prompts = {
  async pick<T>(title: string, items: readonly PickItem<T>[], options: { placeholder?: string; allowTyped?: boolean } = {}) {
    if (!options.allowTyped) {
      const chosen = await vscode.window.showQuickPick(items.map((i) => ({ ...i })), { title, placeHolder: options.placeholder, ignoreFocusOut: true });
      return chosen?.value;
    }
    // A quick pick that also accepts what was typed (a host not in ~/.ssh/config).
    return new Promise<T | string | undefined>((resolve) => {
      const qp = vscode.window.createQuickPick<vscode.QuickPickItem & { value?: T }>();
      qp.title = title;
      qp.placeholder = options.placeholder;
      qp.ignoreFocusOut = true;
      const base = items.map((i) => ({ ...i }));
      qp.items = base;
      qp.onDidChangeValue((v) => {
        qp.items = v && !base.some((i) => i.label === v) ? [{ label: v, description: 'typed' }, ...base] : base;
      });
      let settled = false;
      qp.onDidAccept(() => {
        const sel = qp.selectedItems[0];
        settled = true;
        resolve(sel ? (sel.value ?? sel.label) : qp.value || undefined);
        qp.hide();
      });
      qp.onDidHide(() => {
        if (!settled) resolve(undefined);
        qp.dispose();
      });
      qp.show();
    });
  },
  input(title, options = {}) {
    return Promise.resolve(
      vscode.window.showInputBox({
        title,
        value: options.value,
        prompt: options.prompt,
        password: options.password,
        ignoreFocusOut: true,
        validateInput: options.validate,
      }),
    );
  },
  confirm(message, detail, buttons) {
    return Promise.resolve(vscode.window.showWarningMessage(message, { modal: true, detail }, ...buttons));
  },
};

/** Prompts answering from a script, in order; for tests. Records what was asked. */
export class ScriptedPrompts implements Prompts {
  readonly asked: string[] = [];
  constructor(private readonly answers: (string | undefined)[]) {}

  private next(question: string): string | undefined {
    this.asked.push(question);
    if (this.answers.length === 0) throw new Error(`no scripted answer left for: ${question}`);
    return this.answers.shift();
  }

  async pick<T>(title: string, items: readonly PickItem<T>[]): Promise<T | string | undefined> {
    const answer = this.next(title);
    if (answer === undefined) return undefined;
    const item = items.find((i) => i.label === answer);
    return item ? item.value : answer;
  }

  async input(title: string, options: { validate?: (v: string) => string | undefined } = {}): Promise<string | undefined> {
    const answer = this.next(title);
    const invalid = answer === undefined ? undefined : options.validate?.(answer);
    if (invalid) throw new Error(`scripted answer '${answer}' for '${title}' is invalid: ${invalid}`);
    return answer;
  }

  async confirm(message: string): Promise<string | undefined> {
    return this.next(message);
  }
}
