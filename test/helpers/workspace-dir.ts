/** Temporary workspaces for tests whose trees publish read-only (0555) folders. */
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * A fresh folder under the system's temp dir, removed after the test. Published folders are
 * 0555, so every folder is opened (0755) before the removal: as a normal user `rm -rf` could not
 * unlink the files inside them.
 */
export function tempWorkspace(t: { after(fn: () => void): void }, prefix: string): string {
  const root = mkdtempSync(path.join(tmpdir(), prefix));
  t.after(() => {
    const open = (d: string): void => {
      chmodSync(d, 0o755);
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) open(path.join(d, e.name));
    };
    open(root);
    rmSync(root, { recursive: true, force: true });
  });
  return root;
}
