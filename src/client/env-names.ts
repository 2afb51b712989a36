import { printable } from '../protocol/printable.js';

/** Contract: the env name of "prod/api/db-password" is DB_PASSWORD (last segment, upper-cased, other characters to "_"). */
export function deriveEnvName(secretName: string): string {
  const last = secretName.slice(secretName.lastIndexOf('/') + 1);
  const name = last.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  // A shell variable cannot start with a digit.
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Variables a secret may not become, because a later step's tool reads them to load or run something. */
export interface RefusedEnvGroup {
  /** Why, in one line that completes "refused: ...". */
  readonly reason: string;
  /** Every name starting with one of these (upper case; names are compared without regard to case). */
  readonly prefixes: readonly string[];
  readonly names: readonly string[];
  /** Names a prefix above would catch that only carry a credential to a tool and never run anything. */
  readonly except?: readonly string[];
}

export const REFUSED_ENV_NAMES: readonly RefusedEnvGroup[] = [
  {
    reason: 'the GitHub runner and actions read it to decide what later steps run and where they write',
    prefixes: ['GITHUB_', 'RUNNER_', 'ACTIONS_', 'INPUT_', 'STATE_'],
    names: ['CI'],
  },
  {
    reason: 'it chooses the programs, home directory and shell of every later step',
    prefixes: [],
    names: ['PATH', 'HOME', 'SHELL', 'COMSPEC', 'PATHEXT', 'PSMODULEPATH'],
  },
  {
    reason: 'the dynamic loader or the C library loads code or files named by it into every later program',
    prefixes: ['LD_', 'DYLD_'],
    names: ['GCONV_PATH', 'HOSTALIASES', 'LOCPATH', 'NLSPATH'],
  },
  {
    reason:
      'a shell runs code from it when it starts or shows a prompt, or it changes how every script is parsed',
    prefixes: ['BASH_'],
    names: [
      ...['ENV', 'PROMPT_COMMAND', 'PS1', 'PS2', 'PS3', 'PS4', 'SHELLOPTS', 'BASHOPTS', 'IFS', 'CDPATH'],
      ...['GLOBIGNORE', 'ZDOTDIR', 'FPATH'],
    ],
  },
  {
    reason: 'git runs commands named by it (ssh, askpass, diff, editor) or takes configuration from it',
    prefixes: ['GIT_'],
    names: [],
  },
  {
    reason: 'perl loads modules or runs options from it',
    prefixes: ['PERL'],
    names: [],
  },
  {
    reason: 'python, pip, uv or pytest load code, plugins or packages from it',
    prefixes: ['PYTHON', 'PIP_', 'UV_'],
    names: ['PYTEST_ADDOPTS', 'PYTEST_PLUGINS'],
  },
  {
    reason: 'ruby, gem or bundler load code or gems from it',
    prefixes: ['RUBY', 'GEM_', 'BUNDLE_'],
    names: [],
  },
  {
    reason: 'the JVM, Maven, Gradle, sbt or Ant take options (agents, classes) or a JDK from it',
    prefixes: ['JAVA_'],
    names: [
      ...['_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'CLASSPATH', 'MAVEN_OPTS', 'MAVEN_ARGS', 'GRADLE_OPTS'],
      ...['GRADLE_USER_HOME', 'SBT_OPTS', 'ANT_OPTS'],
    ],
  },
  {
    reason: 'the .NET runtime loads startup hooks, profilers or another runtime from it',
    prefixes: ['DOTNET_', 'COMPLUS_', 'CORECLR_'],
    names: [],
  },
  {
    reason: 'node, npm, yarn, pnpm, corepack or bun take options, modules, scripts or certificates from it',
    prefixes: ['NODE_', 'NPM_CONFIG_', 'YARN_', 'PNPM_CONFIG_', 'COREPACK_', 'BUN_'],
    names: ['PNPM_HOME'],
    except: ['NODE_AUTH_TOKEN', 'YARN_NPM_AUTH_TOKEN'],
  },
  {
    reason: 'the go command takes flags, toolchains, modules or commands from it',
    prefixes: ['CGO_'],
    names: [
      ...['GOFLAGS', 'GOENV', 'GOROOT', 'GOPATH', 'GOPROXY', 'GOTOOLCHAIN', 'GONOSUMDB', 'GONOSUMCHECK'],
      ...['GOSUMDB', 'GOPRIVATE', 'GONOPROXY', 'GOINSECURE', 'GOEXPERIMENT', 'GODEBUG', 'GOWORK', 'GOBIN'],
      ...['GOCACHE', 'GOMODCACHE', 'GOVCS', 'GOAUTH', 'GOPACKAGESDRIVER', 'GCCGO'],
    ],
  },
  {
    reason: 'cargo, rustc or rustup run a compiler, wrapper or toolchain named by it, or take flags from it',
    prefixes: ['CARGO_', 'RUSTC', 'RUSTDOC', 'RUSTUP_'],
    names: ['RUSTFLAGS'],
    except: ['CARGO_REGISTRY_TOKEN'],
  },
  {
    reason: 'make, cmake and compilers run the program named by it or take flags and files from it',
    prefixes: ['CMAKE_'],
    names: [
      ...['CC', 'CXX', 'CPP', 'LD', 'AR', 'AS', 'CFLAGS', 'CXXFLAGS', 'CPPFLAGS', 'LDFLAGS'],
      ...['MAKEFLAGS', 'GNUMAKEFLAGS', 'MFLAGS', 'MAKEFILES'],
    ],
  },
  {
    reason: 'tools run the program named by it to show text or ask for input',
    prefixes: [],
    names: [
      ...['EDITOR', 'VISUAL', 'PAGER', 'MANPAGER', 'LESSOPEN', 'LESSCLOSE', 'BROWSER', 'SSH_ASKPASS'],
      ...['SSH_ASKPASS_REQUIRE', 'SUDO_ASKPASS'],
    ],
  },
  {
    reason:
      'it chooses the certificates TLS trusts (a man in the middle could read later traffic) or makes OpenSSL load a module',
    prefixes: ['OPENSSL_'],
    names: ['SSL_CERT_FILE', 'SSL_CERT_DIR', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE'],
  },
  {
    reason: 'php, lua, tcl or R run startup code or load libraries from it',
    prefixes: ['LUA_'],
    names: [
      ...['PHPRC', 'PHP_INI_SCAN_DIR', 'TCLLIBPATH', 'R_PROFILE', 'R_PROFILE_USER', 'R_ENVIRON'],
      ...['R_ENVIRON_USER', 'R_LIBS', 'R_LIBS_USER'],
    ],
  },
  {
    reason: 'terraform takes its configuration, arguments or providers from it',
    prefixes: ['TF_CLI_'],
    names: ['TF_PLUGIN_CACHE_DIR'],
  },
  {
    reason: 'it points tools at another configuration directory or file, and such files can run commands',
    prefixes: [],
    names: ['XDG_CONFIG_HOME', 'XDG_CONFIG_DIRS', 'CURL_HOME', 'WGETRC'],
  },
];

/** The group that refuses `upper` and the prefix that caught it (undefined for an exact name). */
function refusal(upper: string): { group: RefusedEnvGroup; prefix: string | undefined } | undefined {
  for (const group of REFUSED_ENV_NAMES) {
    if (group.names.includes(upper)) return { group, prefix: undefined };
    const prefix = group.prefixes.find((candidate) => upper.startsWith(candidate));
    if (prefix !== undefined && !(group.except ?? []).includes(upper)) return { group, prefix };
  }
  return undefined;
}

/**
 * Why `name` cannot be an exported variable, or undefined when it can. Names are compared without regard to
 * case (Windows treats them so, and tools such as npm read lower-case forms). With `secretName` (a name derived
 * from it), the hint shows the line that exports that secret under a name of the user's choosing.
 */
export function envNameProblem(name: string, secretName?: string): string | undefined {
  if (!ENV_NAME.test(name))
    return `"${printable(name)}" is not a valid environment variable name (letters, digits and "_", not starting with a digit)`;
  const upper = name.toUpperCase();
  const refused = refusal(upper);
  if (refused === undefined) return undefined;
  const which = refused.prefix === undefined ? '' : ` (as is every name starting with ${refused.prefix})`;
  const rename =
    secretName === undefined
      ? `choose another name, for example MY_${upper}`
      : `give it another name on its own line: MY_${upper}=${printable(secretName)}`;
  return `"${name}" is refused${which}: ${refused.group.reason}; ${rename}`;
}
