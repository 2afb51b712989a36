import { describe, expect, it } from 'vitest';
import { envNameProblem, REFUSED_ENV_NAMES } from '../../src/client/env-names.js';
import { ExportPlanError, planExports } from '../../src/client/export-plan.js';
import { parseSecretLines } from '../../src/client/secret-lines.js';

/** Each name in three letter cases: as written, lower case, and alternating. */
function inEveryCase(name: string): string[] {
  const alternating = [...name]
    .map((character, index) => (index % 2 === 0 ? character.toLowerCase() : character.toUpperCase()))
    .join('');
  return [name, name.toLowerCase(), alternating];
}

/** Every variable issue 11 names as one that makes a common runner tool load or run something. */
const MUST_BE_REFUSED = [
  // the runner itself
  ...['PATH', 'HOME', 'SHELL', 'CI', 'GITHUB_TOKEN', 'RUNNER_TEMP', 'ACTIONS_RUNTIME_TOKEN'],
  ...['INPUT_SECRETS', 'STATE_FILES'],
  // dynamic loader
  ...['LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'DYLD_INSERT_LIBRARIES', 'GCONV_PATH'],
  ...['HOSTALIASES', 'LOCPATH'],
  // git
  ...['GIT_CONFIG_PARAMETERS', 'GIT_CONFIG_COUNT', 'GIT_SSH_COMMAND', 'GIT_EXTERNAL_DIFF', 'GIT_ASKPASS'],
  ...['GIT_DIR', 'GIT_TOKEN'],
  // perl, python, ruby
  ...['PERL5OPT', 'PERL5LIB', 'PERLLIB', 'PERL5DB', 'PERL_MB_OPT'],
  ...['PYTHONSTARTUP', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONWARNINGS', 'PYTHONBREAKPOINT'],
  ...['PIP_INDEX_URL', 'UV_INDEX_URL', 'PYTEST_ADDOPTS', 'PYTEST_PLUGINS'],
  ...['RUBYOPT', 'RUBYLIB', 'GEM_HOME', 'GEM_PATH', 'BUNDLE_GEMFILE'],
  // shells
  ...['BASH_ENV', 'BASH_FUNC_X', 'ENV', 'PROMPT_COMMAND', 'PS1', 'PS2', 'PS4', 'SHELLOPTS', 'BASHOPTS'],
  ...['IFS', 'CDPATH', 'GLOBIGNORE', 'ZDOTDIR'],
  // JVM
  ...['JAVA_TOOL_OPTIONS', 'JAVA_HOME', 'JAVA_OPTS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH'],
  ...['MAVEN_OPTS', 'GRADLE_OPTS', 'SBT_OPTS', 'ANT_OPTS'],
  // .NET
  ...['DOTNET_STARTUP_HOOKS', 'DOTNET_ROOT', 'COMPLUS_ENABLEEVENTLOG', 'CORECLR_PROFILER'],
  // Node and its package managers
  ...['NODE_OPTIONS', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'NPM_CONFIG_USERCONFIG', 'npm_config_script_shell'],
  ...['YARN_RC_FILENAME', 'COREPACK_NPM_REGISTRY', 'BUN_INSTALL'],
  // Go
  ...['GOFLAGS', 'GOENV', 'GOROOT', 'GOPATH', 'GOPROXY', 'GOTOOLCHAIN', 'GONOSUMDB', 'GONOSUMCHECK'],
  ...['GOSUMDB', 'GOPRIVATE', 'GONOPROXY', 'GOINSECURE', 'GOEXPERIMENT', 'GODEBUG', 'GOWORK', 'GOBIN'],
  ...['GOCACHE', 'GOMODCACHE', 'GOVCS', 'CGO_CFLAGS', 'CGO_LDFLAGS'],
  // Rust
  ...['CARGO_HOME', 'CARGO_BUILD_RUSTC_WRAPPER', 'RUSTC', 'RUSTC_WRAPPER', 'RUSTDOC', 'RUSTDOCFLAGS'],
  ...['RUSTFLAGS', 'RUSTUP_TOOLCHAIN'],
  // C, C++ and make
  ...['CC', 'CXX', 'CPP', 'LD', 'AR', 'AS', 'CFLAGS', 'CXXFLAGS', 'CPPFLAGS', 'LDFLAGS'],
  ...['MAKEFLAGS', 'MFLAGS', 'MAKEFILES'],
  // programs that tools start for a human
  ...['EDITOR', 'VISUAL', 'PAGER', 'MANPAGER', 'LESSOPEN', 'LESSCLOSE', 'BROWSER', 'SSH_ASKPASS'],
  'SUDO_ASKPASS',
  // TLS trust
  ...['OPENSSL_CONF', 'OPENSSL_MODULES', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'CURL_CA_BUNDLE'],
  'REQUESTS_CA_BUNDLE',
  // other interpreters
  ...['PHPRC', 'PHP_INI_SCAN_DIR', 'LUA_INIT', 'LUA_PATH', 'TCLLIBPATH', 'R_PROFILE', 'R_PROFILE_USER'],
  ...['R_ENVIRON', 'R_ENVIRON_USER', 'R_LIBS', 'R_LIBS_USER'],
  // Terraform and configuration directories
  ...['TF_CLI_CONFIG_FILE', 'TF_CLI_ARGS', 'TF_PLUGIN_CACHE_DIR', 'XDG_CONFIG_HOME', 'XDG_CONFIG_DIRS'],
];

/** Names people store secrets under that no tool runs: they must stay exportable. */
const MUST_STAY_ALLOWED = [
  ...['DB_PASSWORD', 'KUBECONFIG', 'GOOGLE_APPLICATION_CREDENTIALS', 'AWS_ACCESS_KEY_ID'],
  ...['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'GH_TOKEN', 'NPM_TOKEN', 'NODE_AUTH_TOKEN'],
  ...['CARGO_REGISTRY_TOKEN', 'HTTPS_PROXY', 'TF_VAR_db_password', 'TF_TOKEN_app_terraform_io'],
  // Near misses of refused prefixes and names.
  ...['GITLAB_TOKEN', 'LDAP_PASSWORD', 'GEMINI_API_KEY', 'PIPELINE_TOKEN', 'GOOD', 'CCACHE_DIR'],
  ...['ENVIRONMENT', 'PS1_TOKEN', 'ASSET_KEY', 'CC_NUMBER', 'EDITOR_KEY', 'UVICORN_KEY', 'SSL_KEY'],
];

describe('names that would run code in later steps', () => {
  it('refuses every listed variable in any letter case', () => {
    const accepted = MUST_BE_REFUSED.flatMap(inEveryCase).filter(
      (name) => envNameProblem(name) === undefined,
    );
    expect(accepted).toEqual([]);
  });

  it('refuses every name and prefix of its own list, in any letter case', () => {
    const names = REFUSED_ENV_NAMES.flatMap((group) => [
      ...group.names,
      ...group.prefixes.map((prefix) => `${prefix}X`),
    ]);
    expect(names.length).toBeGreaterThan(100);
    const accepted = names.flatMap(inEveryCase).filter((name) => envNameProblem(name) === undefined);
    expect(accepted).toEqual([]);
  });

  it('gives every group a one-line reason and keeps its entries upper case', () => {
    for (const group of REFUSED_ENV_NAMES) {
      expect(group.reason).toMatch(/^[a-z].*[^.]$/);
      expect(group.reason).not.toContain('\n');
      for (const entry of [...group.names, ...group.prefixes, ...(group.except ?? [])])
        expect(entry).toBe(entry.toUpperCase());
    }
  });

  it('keeps names that only carry a credential', () => {
    const refused = MUST_STAY_ALLOWED.flatMap(inEveryCase).filter(
      (name) => envNameProblem(name) !== undefined,
    );
    expect(refused).toEqual([]);
  });

  it('names the variable, says why and shows how to rename it', () => {
    const problem = envNameProblem('ld_audit', 'prod/shared/ld_audit');
    expect(problem).toContain('"ld_audit"');
    expect(problem).toContain('dynamic loader');
    expect(problem).toContain('MY_LD_AUDIT=prod/shared/ld_audit');
    expect(problem).toContain('as is every name starting with LD_');
    expect(envNameProblem('GIT_TOKEN')).toMatch(/^"GIT_TOKEN" .*git.*another name.*MY_GIT_TOKEN$/);
    expect(envNameProblem('goflags')).toMatch(/^"goflags" is refused: the go command .*MY_GOFLAGS$/);
  });

  it('suggests names that are not refused themselves', () => {
    const suggested = REFUSED_ENV_NAMES.flatMap((group) => [
      ...group.names,
      ...group.prefixes.map((prefix) => `${prefix}X`),
    ]).map((name) => `MY_${name}`);
    expect(suggested.filter((name) => envNameProblem(name) !== undefined)).toEqual([]);
  });

  it('prints an invalid name with its control characters escaped', () => {
    expect(envNameProblem('A\u001b[2J\nB')).toBe(
      '"A\\x1b[2J\\nB" is not a valid environment variable name (letters, digits and "_", not starting with a digit)',
    );
  });
});

describe('export plan with refused names', () => {
  const released = [
    { name: 'prod/shared/LD_AUDIT', version: 1, value: 'a' },
    { name: 'prod/shared/GIT_CONFIG_PARAMETERS', version: 1, value: 'b' },
    { name: 'prod/shared/node_options', version: 1, value: 'c' },
    { name: 'prod/shared/DB_PASSWORD', version: 2, value: 'd' },
  ];

  it('refuses a pattern that derives refused names, naming each secret and the rename', () => {
    let thrown: unknown;
    try {
      planExports(parseSecretLines('prod/shared/*'), released);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ExportPlanError);
    const message = (thrown as Error).message;
    for (const name of ['LD_AUDIT', 'GIT_CONFIG_PARAMETERS', 'node_options']) {
      expect(message).toContain(`secret "prod/shared/${name}" (line 1): "${name.toUpperCase()}" is refused`);
      expect(message).toContain(`MY_${name.toUpperCase()}=prod/shared/${name}`);
    }
    expect(message).not.toContain('DB_PASSWORD');
  });

  it('exports the rest of the pattern once each refused secret has a name of its own', () => {
    const items = planExports(
      parseSecretLines(
        'prod/shared/*\nMY_LD_AUDIT=prod/shared/LD_AUDIT\nMY_GIT=@prod/shared/GIT_CONFIG_PARAMETERS\nOPTS=prod/shared/node_options',
      ),
      released,
    );
    expect(items.map((item) => [item.secretName, item.envName, item.toFile])).toEqual([
      ['prod/shared/DB_PASSWORD', 'DB_PASSWORD', false],
      ['prod/shared/LD_AUDIT', 'MY_LD_AUDIT', false],
      ['prod/shared/GIT_CONFIG_PARAMETERS', 'MY_GIT', true],
      ['prod/shared/node_options', 'OPTS', false],
    ]);
  });

  it('prints a secret name from the broker escaped', () => {
    expect(() =>
      planExports(parseSecretLines('prod/shared/*'), [
        { name: 'prod/shared/LD_\u001b]0;x\u0007AUDIT', version: 1, value: 'a' },
      ]),
    ).toThrow('secret "prod/shared/LD_\\x1b]0;x\\x07AUDIT" (line 1): "LD___0_X_AUDIT" is refused');
  });
});

describe('the documented list', () => {
  it('docs/refused-env-names.md lists exactly the refused groups, with their reasons', async () => {
    const { readFile } = await import('node:fs/promises');
    const doc = await readFile('docs/refused-env-names.md', 'utf8');
    const rows = doc
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((line) =>
        line
          .split('|')
          .slice(1, 3)
          .map((cell) => cell.trim())
          .join(' | '),
      );
    const expected = REFUSED_ENV_NAMES.map((group) => {
      const names = [
        ...group.prefixes.map((prefix) => `\`${prefix}*\``),
        ...group.names.map((name) => `\`${name}\``),
      ].join(', ');
      const except =
        group.except === undefined ? '' : ` (except ${group.except.map((name) => `\`${name}\``).join(', ')})`;
      return `${names}${except} | ${group.reason}`;
    });
    expect(rows).toEqual(expected);
  });
});
