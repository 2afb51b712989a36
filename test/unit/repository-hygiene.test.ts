/**
 * What a new user finds in a fresh clone: a license matching package.json, a changelog, documentation whose links
 * stay inside the repository and resolve, and dependencies that install without EBADENGINE on every Node.js
 * line the project claims.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/child-process.js';

interface PackageJson {
  readonly license: string;
  readonly engines: { readonly node: string };
}

interface LockedPackage {
  readonly engines?: Readonly<Record<string, string>> | readonly string[];
}

const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

function markdownFiles(): string[] {
  const docs = readdirSync(join(REPO_ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => join('docs', name));
  return ['README.md', 'CHANGELOG.md', ...docs];
}

/** GitHub's heading anchors: lower case, punctuation other than `-` and `_` dropped, spaces to `-`. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const match of markdown.matchAll(/^#{1,6} +(.+)$/gm)) {
    anchors.add(
      match[1]!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return anchors;
}

/** Inline links and images, outside fenced code blocks. */
function linkTargets(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```$/gm, '');
  return [...prose.matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)].map((match) => match[1]!);
}

describe('repository hygiene', () => {
  it('has the license package.json names, in full', () => {
    expect(packageJson.license).toBe('Apache-2.0');
    const license = readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(license).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(license).toContain('END OF TERMS AND CONDITIONS');
  });

  it('has a changelog with an Unreleased section', () => {
    const changelog = readFileSync(join(REPO_ROOT, 'CHANGELOG.md'), 'utf8');
    expect(changelog).toMatch(/^## \[Unreleased\]$/m);
  });

  it.each(markdownFiles())('%s links only to files and headings inside the repository', (file) => {
    const markdown = readFileSync(join(REPO_ROOT, file), 'utf8');
    const problems: string[] = [];
    for (const target of linkTargets(markdown)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        if (!target.startsWith('https://')) problems.push(`${target}: only https:// links to the web`);
        continue;
      }
      const [path = '', anchor] = target.split('#', 2);
      const resolved = path === '' ? join(REPO_ROOT, file) : resolve(REPO_ROOT, dirname(file), path);
      if (relative(REPO_ROOT, resolved).startsWith('..')) {
        problems.push(`${target}: outside the repository`);
        continue;
      }
      if (!existsSync(resolved)) {
        problems.push(`${target}: no such file`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md')) {
        if (!headingAnchors(readFileSync(resolved, 'utf8')).has(anchor))
          problems.push(`${target}: no such heading`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('claims only Node.js versions that every locked dependency supports (npm ci warns EBADENGINE otherwise)', () => {
    const claim = packageJson.engines.node;
    // The lowest version of each release line the claim allows, and the newest ones this machine runs.
    const lines = semver
      .validRange(claim)!
      .split('||')
      .map((range) => semver.minVersion(range.trim())!.version);
    const versions = [...new Set([...lines, process.versions.node, '24.11.1'])].filter((version) =>
      semver.satisfies(version, claim),
    );
    expect(versions).toContain(process.versions.node);
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockedPackage>;
    };
    const refused: string[] = [];
    for (const [path, locked] of Object.entries(lock.packages)) {
      const engines = locked.engines;
      const wanted =
        engines !== undefined && !Array.isArray(engines)
          ? (engines as Record<string, string>).node
          : undefined;
      if (wanted === undefined) continue;
      for (const version of versions) {
        if (!semver.satisfies(version, wanted))
          refused.push(`${path || 'the project'} wants node ${wanted}, not ${version}`);
      }
    }
    expect(refused).toEqual([]);
  });
});
