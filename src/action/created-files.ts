import {
  directoryModeFor,
  makePrivateDirectory,
  writeNewPrivateFile,
  type FileIdentity,
  type PrivateFileMode,
} from '../client/private-files.js';
import { removeCreated, type CleanupReport } from './cleanup.js';
import { encodeCreated, type CreatedState } from './state.js';

/**
 * What this step created, told to `save` (the post step's state) as each file or directory comes into being and
 * before a value is written into it, so a cleanup after a crash still knows it, and again after the last write,
 * so that the cleanup removes only it.
 */
export class CreatedFiles {
  private files: FileIdentity[] = [];
  private directories: FileIdentity[] = [];

  constructor(private readonly save: (encoded: string) => void) {}

  get state(): CreatedState {
    return { files: [...this.files], directories: [...this.directories] };
  }

  /** A fresh directory under `parent` for files of `fileMode` (0700, or 0710 for 0640); returns its path. */
  async makeDirectory(parent: string, fileMode: PrivateFileMode = 0o600): Promise<string> {
    const identity = await makePrivateDirectory(
      parent,
      (created) => {
        this.directories.push(created);
        this.save(encodeCreated(this.state));
      },
      directoryModeFor(fileMode),
    );
    return identity.path;
  }

  /**
   * A new file of mode `mode` at `path` holding `content`; refused if anything is at `path` already, or if a
   * directory on the way below `base` is a symbolic link.
   */
  async writeFile(path: string, content: string, base: string, mode: PrivateFileMode = 0o600): Promise<void> {
    await writeNewPrivateFile(path, content, {
      base,
      mode,
      record: (identity) => {
        const index = this.files.findIndex((file) => file.path === identity.path);
        if (index === -1) this.files.push(identity);
        else this.files[index] = identity;
        this.save(encodeCreated(this.state));
      },
    });
  }

  /** Removes everything created so far; what could not be removed stays recorded for the post step. */
  async removeAll(): Promise<CleanupReport> {
    const report = await removeCreated(this.state);
    const failed = new Set(report.failed.map(({ path }) => path));
    this.files = this.files.filter(({ path }) => failed.has(path));
    this.directories = this.directories.filter(({ path }) => failed.has(path));
    try {
      this.save(encodeCreated(this.state));
    } catch {
      // The post step then finds what was removed already gone, and leaves alone what is no longer ours.
    }
    return report;
  }
}
