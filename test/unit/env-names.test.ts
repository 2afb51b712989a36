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

/** A name as one derived from a stored secret's name (through a pattern or a bare NAME line). */
const derived = (name: string): string | undefined => envNameProblem(name, `prod/shared/${name}`);
/** A name as the workflow writes it: `ENV=NAME`. */
const written = (name: string): string | undefined => envNameProblem(name);

/**
 * Variables whose value a common runner tool runs, loads, or fetches code or binaries from: refused always,
 * however the name came about.
 */
const MUST_BE_REFUSED = [
  // the runner itself
  ...['PATH', 'HOME', 'SHELL', 'CI', 'GITHUB_TOKEN', 'RUNNER_TEMP', 'ACTIONS_RUNTIME_TOKEN'],
  ...['INPUT_SECRETS', 'STATE_FILES', 'RUNNER_TOKEN', 'CI_PROJECT_DIR', 'AGENT_TOOLSDIRECTORY'],
  ...['USERPROFILE', 'APPDATA', 'LOCALAPPDATA', 'SYSTEMROOT'],
  // dynamic loader and C library
  ...['LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'DYLD_INSERT_LIBRARIES', 'GCONV_PATH'],
  ...['HOSTALIASES', 'LOCPATH', 'GLIBC_TUNABLES', 'GETCONF_DIR'],
  // git
  ...['GIT_CONFIG_PARAMETERS', 'GIT_CONFIG_COUNT', 'GIT_SSH_COMMAND', 'GIT_EXTERNAL_DIFF', 'GIT_ASKPASS'],
  ...['GIT_DIR', 'GIT_TOKEN', 'GIT_EDITOR', 'GCM_CREDENTIAL_STORE'],
  // perl, python, ruby
  ...['PERL5OPT', 'PERL5LIB', 'PERLLIB', 'PERL5DB', 'PERL_MB_OPT', 'PERLBREW_ROOT', 'HARNESS_PERL_SWITCHES'],
  ...['PYTHONSTARTUP', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONWARNINGS', 'PYTHONBREAKPOINT'],
  ...['PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL', 'UV_INDEX_URL', 'PYTEST_ADDOPTS', 'PYTEST_PLUGINS'],
  ...['_PYTHON_SYSCONFIGDATA_NAME', 'PIPENV_PYPI_MIRROR', 'POETRY_REPOSITORIES_X_URL', 'CONDARC'],
  ...['CONDA_PREFIX', 'VIRTUAL_ENV', 'PYENV_ROOT', 'TOX_OVERRIDE', 'COVERAGE_PROCESS_START', 'HF_ENDPOINT'],
  ...['RUBYOPT', 'RUBYLIB', 'GEM_HOME', 'GEM_PATH', 'BUNDLE_GEMFILE', 'BUNDLE_RUBYGEMS__PKG__GITHUB__COM'],
  ...['IRBRC', 'GEMRC', 'RAKEOPT', 'SPEC_OPTS', 'RBENV_ROOT', 'BUNDLER_EDITOR'],
  // shells
  ...['BASH_ENV', 'BASH_FUNC_X', 'ENV', 'PROMPT_COMMAND', 'PS1', 'PS2', 'PS4', 'SHELLOPTS', 'BASHOPTS'],
  ...['IFS', 'CDPATH', 'GLOBIGNORE', 'ZDOTDIR', 'PS0'],
  // JVM and Android
  ...['JAVA_TOOL_OPTIONS', 'JAVA_HOME', 'JAVA_OPTS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH'],
  ...['MAVEN_OPTS', 'GRADLE_OPTS', 'SBT_OPTS', 'ANT_OPTS', 'MAVEN_DEBUG_OPTS', 'MAVEN_CONFIG', 'JVM_OPTS'],
  ...['ANT_ARGS', 'MVNW_REPOURL', 'MVNW_VERBOSE', 'M2_HOME', 'JAVACMD', 'GRADLE_USER_HOME', 'ANDROID_HOME'],
  // .NET, NuGet and MSBuild
  ...[
    'DOTNET_STARTUP_HOOKS',
    'DOTNET_ROOT',
    'COMPLUS_ENABLEEVENTLOG',
    'CORECLR_PROFILER',
    'COR_PROFILER_PATH',
  ],
  ...['NUGET_PLUGIN_PATHS', 'NUGET_PACKAGES', 'MONO_ENV_OPTIONS', 'CustomBeforeMicrosoftCommonTargets'],
  ...['CustomAfterMicrosoftCommonTargets', 'CustomBeforeMicrosoftCommonProps', 'MSBuildExtensionsPath'],
  ...['MSBuildSDKsPath', 'DirectoryBuildPropsPath', 'RestoreSources', 'CscToolPath', 'NuGetPackageRoot'],
  // Node, its package managers, and tools that download browsers or engines
  ...['NODE_OPTIONS', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'NPM_CONFIG_USERCONFIG', 'npm_config_script_shell'],
  ...['YARN_RC_FILENAME', 'COREPACK_NPM_REGISTRY', 'BUN_INSTALL', 'NVM_NODEJS_ORG_MIRROR', 'DENO_DIR'],
  ...['PUPPETEER_DOWNLOAD_BASE_URL', 'PLAYWRIGHT_DOWNLOAD_HOST', 'CYPRESS_INSTALL_BINARY', 'ELECTRON_MIRROR'],
  ...['ESBUILD_BINARY_PATH', 'CHROME_BIN'],
  // Go
  ...['GOFLAGS', 'GOENV', 'GOROOT', 'GOPATH', 'GOPROXY', 'GOTOOLCHAIN', 'GONOSUMDB', 'GONOSUMCHECK'],
  ...['GOSUMDB', 'GOPRIVATE', 'GONOPROXY', 'GOINSECURE', 'GOEXPERIMENT', 'GODEBUG', 'GOWORK', 'GOBIN'],
  ...['GOCACHE', 'GOMODCACHE', 'GOVCS', 'CGO_CFLAGS', 'CGO_LDFLAGS', 'GOTOOLDIR', 'CC_FOR_linux_amd64'],
  // Rust
  ...['CARGO_HOME', 'CARGO_BUILD_RUSTC_WRAPPER', 'RUSTC', 'RUSTC_WRAPPER', 'RUSTDOC', 'RUSTDOCFLAGS'],
  ...['RUSTFLAGS', 'RUSTUP_TOOLCHAIN', 'CARGO_REGISTRIES_X_INDEX', 'CARGO_REGISTRIES_X_CREDENTIAL_PROVIDER'],
  ...['CC_x86_64_unknown_linux_gnu', 'TARGET_CC', 'HOST_CFLAGS', 'LIBCLANG_PATH', 'PROTOC'],
  // C, C++, make, autoconf and build caches
  ...['CC', 'CXX', 'CPP', 'LD', 'AR', 'AS', 'CFLAGS', 'CXXFLAGS', 'CPPFLAGS', 'LDFLAGS'],
  ...['MAKEFLAGS', 'MFLAGS', 'MAKEFILES', 'CONFIG_SHELL', 'CONFIG_SITE', 'PKG_CONFIG_PATH', 'CPATH'],
  ...['LIBRARY_PATH', 'COMPILER_PATH', 'GCC_EXEC_PREFIX', 'CCC_OVERRIDE_OPTIONS', 'CCACHE_PREFIX'],
  ...['CCACHE_DIR', 'SCCACHE_BUCKET', 'VCPKG_BINARY_SOURCES', 'BAZELISK_BASE_URL', 'USE_BAZEL_VERSION'],
  ...['DEVELOPER_DIR'],
  // archivers and remote shells
  ...['TAR_OPTIONS', 'TAPE', 'ZIPOPT', 'UNZIP', 'UNZIPOPT', 'RSYNC_RSH', 'RSYNC_CONNECT_PROG'],
  ...['SSH_SK_PROVIDER'],
  // programs that tools start
  ...['EDITOR', 'VISUAL', 'PAGER', 'MANPAGER', 'LESSOPEN', 'LESSCLOSE', 'BROWSER', 'SSH_ASKPASS'],
  ...['SUDO_ASKPASS', 'VIMINIT', 'EXINIT', 'VIMRUNTIME', 'LESS', 'LESSKEY', 'MANOPT', 'GH_PAGER'],
  ...['KUBE_EDITOR', 'KUBECTL_EXTERNAL_DIFF', 'AWS_PAGER', 'PSQL_PAGER'],
  // TLS trust
  ...['OPENSSL_CONF', 'OPENSSL_MODULES', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'CURL_CA_BUNDLE'],
  ...['REQUESTS_CA_BUNDLE', 'AWS_CA_BUNDLE', 'SSLKEYLOGFILE', 'CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE'],
  // other interpreters
  ...['PHPRC', 'PHP_INI_SCAN_DIR', 'LUA_INIT', 'LUA_PATH', 'TCLLIBPATH', 'R_PROFILE', 'R_PROFILE_USER'],
  ...['R_ENVIRON', 'R_ENVIRON_USER', 'R_LIBS', 'R_LIBS_USER', 'COMPOSER', 'COMPOSER_HOME', 'XDEBUG_CONFIG'],
  ...['JULIA_DEPOT_PATH', 'JULIA_PKG_SERVER', 'TCL_LIBRARY', 'PSQLRC', 'LUAROCKS_CONFIG', 'RENV_PATHS_ROOT'],
  // Erlang and Elixir
  ...['ERL_AFLAGS', 'ERL_FLAGS', 'ERL_ZFLAGS', 'ELIXIR_ERL_OPTIONS', 'ERL_LIBS', 'MIX_HOME', 'HEX_MIRROR'],
  'REBAR_CONFIG',
  // infrastructure tools, cloud CLIs and installers
  ...['TF_CLI_CONFIG_FILE', 'TF_CLI_ARGS', 'TF_PLUGIN_CACHE_DIR', 'TF_DATA_DIR', 'TERRAFORM_CONFIG'],
  ...['ANSIBLE_SSH_ARGS', 'ANSIBLE_LIBRARY', 'PACKER_PLUGIN_PATH', 'HELM_PLUGINS', 'CLOUDSDK_PYTHON'],
  ...['CLOUDSDK_PYTHON_ARGS', 'AZURE_EXTENSION_DIR', 'GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES'],
  ...['HOMEBREW_BOTTLE_DOMAIN', 'SDKMAN_DIR', 'ASDF_DATA_DIR', 'MISE_DATA_DIR', 'PRE_COMMIT_HOME'],
  ...['PUB_HOSTED_URL', 'FLUTTER_STORAGE_BASE_URL'],
  // configuration directories
  ...['XDG_CONFIG_HOME', 'XDG_CONFIG_DIRS', 'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'CURL_HOME', 'WGETRC'],
];

/**
 * Variables that point a tool at a configuration file, a daemon, an endpoint or a proxy: refused when the name
 * comes from a stored secret's name, allowed when the workflow writes `ENV=NAME` itself.
 */
const REFUSED_WHEN_DERIVED = [
  ...['KUBECONFIG', 'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE', 'AWS_PROFILE'],
  ...['GOOGLE_APPLICATION_CREDENTIALS', 'CLOUDSDK_CONFIG', 'CLOUDSDK_AUTH_ACCESS_TOKEN', 'AZURE_CONFIG_DIR'],
  ...['DOCKER_HOST', 'DOCKER_CONFIG', 'DOCKER_CONTEXT', 'BUILDKIT_HOST', 'CONTAINER_HOST', 'GNUPGHOME'],
  ...['HELM_REPOSITORY_CONFIG', 'SSH_AUTH_SOCK', 'GH_HOST', 'GITLAB_HOST', 'VAULT_ADDR', 'NETRC'],
  ...['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'PGHOST'],
  ...['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'FTP_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy'],
  ...['all_proxy', 'no_proxy', 'GRPC_PROXY', 'RSYNC_PROXY', 'TMPDIR', 'TEMP'],
];

/** Names people store secrets under that no tool runs or follows: exported however they came about. */
const MUST_STAY_ALLOWED = [
  ...['DB_PASSWORD', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'GH_TOKEN'],
  ...['NPM_TOKEN', 'NODE_AUTH_TOKEN', 'CARGO_REGISTRY_TOKEN', 'TF_VAR_db_password'],
  ...['TF_TOKEN_app_terraform_io', 'AZURE_CLIENT_SECRET', 'GOOGLE_CREDENTIALS', 'VAULT_TOKEN'],
  ...['RSYNC_PASSWORD', 'PGPASSWORD', 'DOCKER_PASSWORD', 'DOCKER_USERNAME', 'DOCKERHUB_TOKEN'],
  // credentials under a refused prefix that the tool only sends as a credential (the red team's review list)
  ...['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_COMMITTER_NAME', 'GIT_COMMITTER_EMAIL'],
  ...['GEM_HOST_API_KEY', 'RUBYGEMS_API_KEY', 'UV_PUBLISH_TOKEN', 'COREPACK_NPM_TOKEN'],
  ...['YARN_NPM_AUTH_TOKEN', 'YARN_NPM_AUTH_IDENT', 'CARGO_REGISTRIES_PRIVATE_TOKEN', 'DOTNET_NUGET_API_KEY'],
  ...['JAVA_KEYSTORE_PASSWORD', 'OPENSSL_PASSPHRASE', 'LD_API_KEY'],
  // credentials under prefixes new to the list
  ...['NUGET_API_KEY', 'NUGET_AUTH_TOKEN', 'MAVEN_USERNAME', 'MAVEN_PASSWORD', 'MAVEN_GPG_PASSPHRASE'],
  ...['MVNW_USERNAME', 'MVNW_PASSWORD', 'GRADLE_PUBLISH_KEY', 'GRADLE_PUBLISH_SECRET', 'HEX_API_KEY'],
  ...['COMPOSER_AUTH', 'CYPRESS_RECORD_KEY', 'HOMEBREW_GITHUB_API_TOKEN', 'CC_TEST_REPORTER_ID'],
  ...['POETRY_PYPI_TOKEN_PYPI', 'POETRY_HTTP_BASIC_PRIVATE_PASSWORD', 'DENO_AUTH_TOKENS'],
  // Near misses of refused prefixes and names.
  ...['GITLAB_TOKEN', 'LDAP_PASSWORD', 'GEMINI_API_KEY', 'PIPELINE_TOKEN', 'GOOD', 'ENVIRONMENT'],
  ...['PS1_TOKEN', 'ASSET_KEY', 'EDITOR_KEY', 'UVICORN_KEY', 'SSL_KEY', 'CORS_ORIGIN', 'LESSON_KEY'],
  ...['TAR_OPTIONS_KEY', 'VIMEO_TOKEN', 'RESTIC_PASSWORD', 'DOCKERHUB_USERNAME', 'CIRCLE_TOKEN'],
];

describe('names that would run code in later steps', () => {
  it('refuses every always-refused variable in any letter case, derived or written as ENV=NAME', () => {
    const names = MUST_BE_REFUSED.flatMap(inEveryCase);
    expect(names.filter((name) => written(name) === undefined)).toEqual([]);
    expect(names.filter((name) => derived(name) === undefined)).toEqual([]);
  });

  it('refuses a configuration, daemon, endpoint or proxy variable only when its name is derived', () => {
    const names = REFUSED_WHEN_DERIVED.flatMap(inEveryCase);
    expect(names.filter((name) => derived(name) === undefined)).toEqual([]);
    expect(names.filter((name) => written(name) !== undefined)).toEqual([]);
  });

  it('refuses every name and prefix of its own list, in any letter case, by its tier', () => {
    const entries = (tier: 'always' | 'derived') =>
      REFUSED_ENV_NAMES.filter((group) => group.tier === tier).flatMap((group) => [
        ...group.names,
        ...group.prefixes.map((prefix) => `${prefix}X`),
      ]);
    expect(entries('always').length).toBeGreaterThan(300);
    expect(entries('derived').length).toBeGreaterThan(30);
    for (const name of entries('always').flatMap(inEveryCase)) {
      expect(written(name), name).toBeDefined();
      expect(derived(name), name).toBeDefined();
    }
    for (const name of entries('derived').flatMap(inEveryCase)) expect(derived(name), name).toBeDefined();
  });

  it('gives every group a tier and a one-line reason, and keeps its entries upper case', () => {
    for (const group of REFUSED_ENV_NAMES) {
      expect(['always', 'derived']).toContain(group.tier);
      expect(group.reason).toMatch(/^[a-z].*[^.]$/);
      expect(group.reason).not.toContain('\n');
      for (const entry of [...group.names, ...group.prefixes, ...(group.except ?? [])])
        expect(entry).toBe(entry.toUpperCase());
    }
  });

  it('keeps names that only carry a credential, however they came about', () => {
    const names = MUST_STAY_ALLOWED.flatMap(inEveryCase);
    expect(names.filter((name) => derived(name) !== undefined)).toEqual([]);
    expect(names.filter((name) => written(name) !== undefined)).toEqual([]);
  });

  it('names the variable, says why, and shows how to rename it and hand it to one step', () => {
    const problem = envNameProblem('ld_audit', 'prod/shared/ld_audit');
    expect(problem).toBe(
      '"ld_audit" is refused (as is every name starting with LD_): the dynamic loader or the C library loads ' +
        'code or files named by it into every later program; give it another name on its own line: ' +
        'MY_LD_AUDIT=prod/shared/ld_audit, and set LD_AUDIT only in the env: of the one step that needs it ' +
        '(LD_AUDIT: ${{ env.MY_LD_AUDIT }})',
    );
    expect(written('GIT_TOKEN')).toMatch(
      /^"GIT_TOKEN" is refused .*git.*; choose another name, for example MY_GIT_TOKEN, and set GIT_TOKEN only in the env: of the one step that needs it \(GIT_TOKEN: \$\{\{ env\.MY_GIT_TOKEN \}\}\)$/,
    );
    expect(written('goflags')).toMatch(/^"goflags" is refused: the go command .*MY_GOFLAGS\b/);
  });

  it('tells a derived configuration variable to be named by the workflow', () => {
    expect(envNameProblem('kubeconfig', 'prod/k8s/kubeconfig')).toBe(
      '"kubeconfig" is exported only when the workflow names it: it points a tool at another configuration ' +
        'or credentials file, and such files can name commands to run; write KUBECONFIG=prod/k8s/kubeconfig ' +
        '(or KUBECONFIG=@prod/k8s/kubeconfig for a file) on its own line to export it under this name, or give ' +
        'it another: MY_KUBECONFIG=prod/k8s/kubeconfig',
    );
  });

  it('suggests names that are not refused themselves', () => {
    const suggested = REFUSED_ENV_NAMES.flatMap((group) => [
      ...group.names,
      ...group.prefixes.map((prefix) => `${prefix}X`),
    ]).map((name) => `MY_${name}`);
    expect(suggested.filter((name) => derived(name) !== undefined)).toEqual([]);
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
    { name: 'prod/shared/tar-options', version: 1, value: 'e' },
    { name: 'prod/shared/ERL_AFLAGS', version: 1, value: 'f' },
    { name: 'prod/shared/CONFIG_SHELL', version: 1, value: 'g' },
    { name: 'prod/shared/HTTPS_PROXY', version: 1, value: 'h' },
  ];
  const refused = [
    ['LD_AUDIT', 'LD_AUDIT'],
    ['GIT_CONFIG_PARAMETERS', 'GIT_CONFIG_PARAMETERS'],
    ['node_options', 'NODE_OPTIONS'],
    ['tar-options', 'TAR_OPTIONS'],
    ['ERL_AFLAGS', 'ERL_AFLAGS'],
    ['CONFIG_SHELL', 'CONFIG_SHELL'],
  ] as const;

  it('refuses a pattern that derives refused names, naming each secret and the rename', () => {
    let thrown: unknown;
    try {
      planExports(parseSecretLines('prod/shared/*'), released);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ExportPlanError);
    const message = (thrown as Error).message;
    for (const [name, variable] of refused) {
      expect(message).toContain(`secret "prod/shared/${name}" (line 1): "${variable}" is refused`);
      expect(message).toContain(`MY_${variable}=prod/shared/${name}`);
    }
    expect(message).toContain(
      'secret "prod/shared/HTTPS_PROXY" (line 1): "HTTPS_PROXY" is exported only when the workflow names it',
    );
    expect(message).not.toContain('DB_PASSWORD');
  });

  it('refuses a bare NAME line that derives a configuration variable, and exports it written as ENV=NAME', () => {
    const proxy = [{ name: 'prod/net/HTTPS_PROXY', version: 1, value: 'http://proxy:3128' }];
    expect(() => planExports(parseSecretLines('prod/net/HTTPS_PROXY'), proxy)).toThrow(
      'write HTTPS_PROXY=prod/net/HTTPS_PROXY',
    );
    expect(
      planExports(parseSecretLines('HTTPS_PROXY=prod/net/HTTPS_PROXY'), proxy).map((item) => item.envName),
    ).toEqual(['HTTPS_PROXY']);
    const kubeconfig = [{ name: 'prod/k8s/kubeconfig', version: 1, value: 'apiVersion: v1' }];
    const items = planExports(parseSecretLines('KUBECONFIG=@prod/k8s/kubeconfig'), kubeconfig);
    expect(items.map((item) => [item.envName, item.toFile])).toEqual([['KUBECONFIG', true]]);
  });

  it('refuses an always-refused name even when the workflow writes it', () => {
    expect(() => parseSecretLines('TAR_OPTIONS=prod/shared/tar-options')).toThrow('"TAR_OPTIONS" is refused');
    expect(() => parseSecretLines('MSBUILDEXTENSIONSPATH=@prod/x')).toThrow('is refused');
  });

  it('exports the rest of the pattern once each refused secret has a name of its own', () => {
    const items = planExports(
      parseSecretLines(
        [
          'prod/shared/*',
          'MY_LD_AUDIT=prod/shared/LD_AUDIT',
          'MY_GIT=@prod/shared/GIT_CONFIG_PARAMETERS',
          'OPTS=prod/shared/node_options',
          'MY_TAR=prod/shared/tar-options',
          'MY_ERL=prod/shared/ERL_AFLAGS',
          'MY_SHELL=prod/shared/CONFIG_SHELL',
          'HTTPS_PROXY=prod/shared/HTTPS_PROXY',
        ].join('\n'),
      ),
      released,
    );
    expect(items.map((item) => [item.secretName, item.envName, item.toFile])).toEqual([
      ['prod/shared/DB_PASSWORD', 'DB_PASSWORD', false],
      ['prod/shared/LD_AUDIT', 'MY_LD_AUDIT', false],
      ['prod/shared/GIT_CONFIG_PARAMETERS', 'MY_GIT', true],
      ['prod/shared/node_options', 'OPTS', false],
      ['prod/shared/tar-options', 'MY_TAR', false],
      ['prod/shared/ERL_AFLAGS', 'MY_ERL', false],
      ['prod/shared/CONFIG_SHELL', 'MY_SHELL', false],
      ['prod/shared/HTTPS_PROXY', 'HTTPS_PROXY', false],
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
  /** The rows of the table under the heading that starts with `heading`, as "names | why". */
  function tableUnder(doc: string, heading: string): string[] {
    const start = doc.split('\n').findIndex((line) => line.startsWith(heading));
    expect(start, heading).toBeGreaterThan(-1);
    const rows: string[] = [];
    for (const line of doc.split('\n').slice(start + 1)) {
      if (line.startsWith('#')) break;
      if (!line.startsWith('| `')) continue;
      rows.push(
        line
          .split('|')
          .slice(1, 3)
          .map((cell) => cell.trim())
          .join(' | '),
      );
    }
    return rows;
  }

  it('docs/refused-env-names.md lists exactly the refused groups, by tier, with their reasons', async () => {
    const { readFile } = await import('node:fs/promises');
    const doc = await readFile('docs/refused-env-names.md', 'utf8');
    const expected = (tier: 'always' | 'derived') =>
      REFUSED_ENV_NAMES.filter((group) => group.tier === tier).map((group) => {
        const names = [
          ...group.prefixes.map((prefix) => `\`${prefix}*\``),
          ...group.names.map((name) => `\`${name}\``),
        ].join(', ');
        const except =
          group.except === undefined
            ? ''
            : ` (except ${group.except.map((name) => `\`${name}\``).join(', ')})`;
        return `${names}${except} | ${group.reason}`;
      });
    expect(tableUnder(doc, '## Refused always')).toEqual(expected('always'));
    expect(tableUnder(doc, '## Refused when the name comes from the secret')).toEqual(expected('derived'));
  });
});

describe('names that come through a pattern', () => {
  it('are exported only when shaped like a credential; written on their own line, any allowed name is', () => {
    for (const name of [
      'DB_PASSWORD',
      'NPM_TOKEN',
      'SLACK_WEBHOOK',
      'API_KEY',
      'SENTRY_DSN',
      'CLIENT_ID',
      'TOKEN',
    ])
      expect(envNameProblem(name, `prod/shared/${name}`, 'prod/shared/*'), name).toBeUndefined();
    for (const name of ['REGION', 'DB_URL', 'CONFIG', 'PREBUILDEVENT_X', 'PWD', 'MY_TOOL_OPTS']) {
      const problem = envNameProblem(name, `prod/shared/${name}`, 'prod/shared/*');
      expect(problem, name).toMatch(/through a pattern only names shaped like a credential/);
      expect(problem).toContain(`${name}=prod/shared/${name}`);
      // The same name from a line of its own (bare or ENV=) is not held to that shape.
      expect(envNameProblem(name, `prod/shared/${name}`)).toBe(
        name === 'PWD' ? envNameProblem(name, `prod/shared/${name}`) : undefined,
      );
    }
  });

  it('build and tool hooks a second review found are refused in any form', () => {
    for (const name of [
      'PREBUILDEVENT',
      'PostBuildEvent',
      'RUNCOMMAND',
      'VSTESTTESTADAPTERPATH',
      'CIBW_BEFORE_ALL',
      'LDSHARED',
      'CXXCPP',
      'CUDACXX',
      'CMAKE',
      'SONAR_SCANNER_OPTS',
      'LEIN_JAVA_CMD',
      'NIX_CONFIG',
      'HGRCPATH',
      'SVN_SSH',
      'GTK_MODULES',
      'SOPS_AGE_KEY_CMD',
      'RESTIC_PASSWORD_COMMAND',
      'BORG_RSH',
      'GOTMPDIR',
      'PGSSLROOTCERT',
    ])
      expect(envNameProblem(name), name).toMatch(/is refused/);
    expect(envNameProblem('COMPOSE_FILE', 'prod/x/COMPOSE_FILE')).toMatch(
      /exported only when the workflow names it/,
    );
    expect(envNameProblem('COMPOSE_FILE')).toBeUndefined();
  });
});
