/**
 * Variables a secret may not become. Two tiers:
 *
 * - `always`: a tool a later step starts runs or loads the value, or fetches code or binaries from where the value
 *   says (options, programs, libraries, package indexes, download mirrors, caches of compiled code). Whoever
 *   can store a secret could run code in the job, whoever named the variable.
 * - `derived`: the value points a tool at a configuration file, a daemon, an endpoint or a proxy. Refused when the
 *   name comes from a stored secret's name (a pattern, or a bare NAME line); allowed when the workflow writes
 *   `ENV=NAME` or `ENV=@NAME` itself, because then the workflow chose to take that setting from the secret.
 *
 * A name is refused when any group catches it; the strictest tier wins. `except` lists names a prefix of the
 * same group would catch that only carry a credential, which the tool sends and never runs or follows; an entry
 * may hold one `*` standing for any run of characters. Everything is upper case: names are compared without
 * regard to case (Windows treats them so, and tools such as npm read lower-case forms).
 *
 * The list cannot be complete (MSBuild and make read every variable as a property or a variable): it covers
 * the variables the common runner tools read themselves. docs/refused-env-names.md is generated from it.
 */
export type RefusalTier = 'always' | 'derived';

export interface RefusedEnvGroup {
  readonly tier: RefusalTier;
  /** Why, in one line that completes "refused: ...". */
  readonly reason: string;
  /** Every name starting with one of these. */
  readonly prefixes: readonly string[];
  readonly names: readonly string[];
  /** Names a prefix above would catch that only carry a credential to a tool and never run anything. */
  readonly except?: readonly string[];
}

export const REFUSED_ENV_NAMES: readonly RefusedEnvGroup[] = [
  {
    tier: 'always',
    reason:
      'the GitHub or GitLab runner, actions and setup steps read it to decide what later steps run, where tools come from and where they write',
    prefixes: ['GITHUB_', 'RUNNER_', 'ACTIONS_', 'INPUT_', 'STATE_', 'CI_'],
    names: ['CI', 'AGENT_TOOLSDIRECTORY'],
  },
  {
    tier: 'always',
    reason: 'it chooses the programs, home or profile directory and shell of every later step',
    prefixes: [],
    names: [
      ...['PATH', 'HOME', 'SHELL', 'COMSPEC', 'PATHEXT', 'PSMODULEPATH', 'USERPROFILE', 'APPDATA'],
      ...['LOCALAPPDATA', 'PROGRAMDATA', 'ALLUSERSPROFILE', 'HOMEDRIVE', 'HOMEPATH', 'SYSTEMROOT', 'WINDIR'],
      ...['SYSTEMDRIVE', 'PROGRAMFILES', 'PROGRAMW6432', 'COMMONPROGRAMFILES'],
    ],
  },
  {
    tier: 'always',
    reason: 'the dynamic loader or the C library loads code or files named by it into every later program',
    prefixes: ['LD_', 'DYLD_'],
    names: [
      ...['GCONV_PATH', 'HOSTALIASES', 'LOCPATH', 'NLSPATH', 'GLIBC_TUNABLES', 'GETCONF_DIR', 'MUSL_LOCPATH'],
      ...['LOCALDOMAIN', 'RES_OPTIONS', 'RESOLV_HOST_CONF'],
    ],
    except: ['LD_API_KEY'],
  },
  {
    tier: 'always',
    reason:
      'a shell runs code from it when it starts or shows a prompt, or it changes how every script is parsed',
    prefixes: ['BASH_'],
    names: [
      ...['ENV', 'PROMPT_COMMAND', 'PS0', 'PS1', 'PS2', 'PS3', 'PS4', 'SHELLOPTS', 'BASHOPTS', 'IFS'],
      ...['CDPATH', 'GLOBIGNORE', 'ZDOTDIR', 'FPATH'],
    ],
  },
  {
    tier: 'always',
    reason:
      'git or its credential manager runs commands named by it (ssh, askpass, diff, editor) or takes configuration from it',
    prefixes: ['GIT_', 'GCM_'],
    names: [],
    except: [
      ...['GIT_AUTHOR_NAME', 'GIT_AUTHOR_EMAIL', 'GIT_AUTHOR_DATE', 'GIT_COMMITTER_NAME'],
      ...['GIT_COMMITTER_EMAIL', 'GIT_COMMITTER_DATE'],
    ],
  },
  {
    tier: 'always',
    reason: 'perl, perlbrew, plenv or prove load modules, run options or pick a perl from it',
    prefixes: ['PERL', 'HARNESS_', 'PLENV_'],
    names: [],
  },
  {
    tier: 'always',
    reason:
      'python, its package and environment managers or pytest load code, plugins or an interpreter from it, or download packages from where it says',
    prefixes: [
      ...['PYTHON', '_PYTHON', 'PIP_', 'UV_', 'PYTEST_', 'PIPENV_', 'POETRY_', 'PDM_', 'HATCH_', 'CONDA_'],
      ...['MAMBA_', 'PYENV_', 'PIPX_', 'TOX_', 'JUPYTER_', 'PYO3_'],
    ],
    names: [
      ...['CONDARC', 'MAMBARC', 'VIRTUAL_ENV', 'IPYTHONDIR', 'COVERAGE_PROCESS_START', 'COVERAGE_RCFILE'],
      'HF_ENDPOINT',
    ],
    except: [
      ...['UV_PUBLISH_TOKEN', 'POETRY_PYPI_TOKEN_*', 'POETRY_HTTP_BASIC_*_PASSWORD'],
      'POETRY_HTTP_BASIC_*_USERNAME',
    ],
  },
  {
    tier: 'always',
    reason:
      'ruby, gem, bundler, rake, rspec or a ruby version manager load code, options or gems from it, or pick a ruby from it',
    prefixes: ['RUBY', 'GEM_', 'BUNDLE_', 'BUNDLER_', 'RBENV_', 'RVM_'],
    names: ['IRBRC', 'PRYRC', 'GEMRC', 'RAKEOPT', 'SPEC_OPTS'],
    except: ['GEM_HOST_API_KEY', 'RUBYGEMS_API_KEY'],
  },
  {
    tier: 'always',
    reason:
      'the JVM, Maven and its wrapper, Gradle, sbt, Ant, Coursier or the Android build take options (agents, classes), a JDK, an SDK or a download location from it',
    prefixes: ['JAVA_', 'JDK_', 'MAVEN_', 'MVNW_', 'GRADLE_', 'SBT_', 'COURSIER_'],
    names: [
      ...['_JAVA_OPTIONS', 'CLASSPATH', 'JVM_OPTS', 'JVM_ARGS', 'JAVACMD', 'JRE_HOME', 'M2_HOME'],
      ...['ANT_OPTS', 'ANT_ARGS', 'ANT_HOME', 'ANDROID_HOME', 'ANDROID_SDK_ROOT', 'ANDROID_SDK_HOME'],
      ...[
        'ANDROID_NDK',
        'ANDROID_NDK_HOME',
        'ANDROID_NDK_ROOT',
        'ANDROID_NDK_LATEST_HOME',
        'ANDROID_USER_HOME',
      ],
      'ANDROID_PREFS_ROOT',
    ],
    except: [
      ...[
        'JAVA_KEYSTORE_PASSWORD',
        'MAVEN_USERNAME',
        'MAVEN_PASSWORD',
        'MAVEN_GPG_PASSPHRASE',
        'MAVEN_GPG_KEY',
      ],
      ...['MVNW_USERNAME', 'MVNW_PASSWORD', 'GRADLE_PUBLISH_KEY', 'GRADLE_PUBLISH_SECRET'],
    ],
  },
  {
    tier: 'always',
    reason:
      'the .NET or Mono runtime or NuGet loads startup hooks, profilers, another runtime, plugins or packages from it',
    prefixes: ['DOTNET_', 'COMPLUS_', 'CORECLR_', 'COR_', 'MONO_', 'NUGET'],
    names: [],
    except: ['DOTNET_NUGET_API_KEY', 'NUGET_API_KEY', 'NUGET_AUTH_TOKEN'],
  },
  {
    tier: 'always',
    reason:
      'every variable is an MSBuild property, and this one imports build files, picks a compiler or SDK, or chooses package sources',
    prefixes: ['MSBUILD', 'CUSTOMBEFORE', 'CUSTOMAFTER', 'RESTORE'],
    names: [
      ...['DIRECTORYBUILDPROPSPATH', 'DIRECTORYBUILDTARGETSPATH', 'DIRECTORYPACKAGESPROPSPATH'],
      ...['_DIRECTORYBUILDPROPSFILE', '_DIRECTORYBUILDTARGETSFILE', '_DIRECTORYBUILDPROPSBASEPATH'],
      ...['_DIRECTORYBUILDTARGETSBASEPATH', 'BASEINTERMEDIATEOUTPUTPATH', 'CSCTOOLPATH', 'CSCTOOLEXE'],
      ...['VBCTOOLPATH', 'VBCTOOLEXE', 'FSCTOOLPATH', 'FSCTOOLEXE', 'ROSLYNTARGETSPATH', 'VSTOOLSPATH'],
      ...['VCTARGETSPATH', 'ILLINKTASKSASSEMBLY'],
    ],
  },
  {
    tier: 'always',
    reason:
      'node, npm, yarn, pnpm, corepack, bun, deno or a node version manager take options, modules, scripts or certificates from it, or download node or packages from where it says',
    prefixes: [
      ...['NODE_', 'NPM_CONFIG_', 'YARN_', 'PNPM_CONFIG_', 'COREPACK_', 'BUN_', 'DENO_', 'NVM_', 'FNM_'],
      ...['VOLTA_', 'NODENV_', 'TS_NODE_'],
    ],
    names: ['PNPM_HOME', 'N_NODE_MIRROR', 'N_PREFIX', 'NODEJS_ORG_MIRROR', 'IOJS_ORG_MIRROR', 'TURBO_API'],
    except: [
      ...['NODE_AUTH_TOKEN', 'YARN_NPM_AUTH_TOKEN', 'YARN_NPM_AUTH_IDENT', 'COREPACK_NPM_TOKEN'],
      ...['DENO_AUTH_TOKENS', 'DENO_DEPLOY_TOKEN'],
    ],
  },
  {
    tier: 'always',
    reason:
      'test and build tools run a browser, driver or engine binary named by it, or download one from where it says',
    prefixes: [
      ...['PUPPETEER_', 'PLAYWRIGHT_', 'CYPRESS_', 'ELECTRON_', 'CHROMEDRIVER_', 'GECKODRIVER_', 'PRISMA_'],
      'SASS_BINARY_',
    ],
    names: ['ESBUILD_BINARY_PATH', 'CHROME_BIN', 'CHROME_PATH', 'FIREFOX_BIN'],
    except: ['CYPRESS_RECORD_KEY'],
  },
  {
    tier: 'always',
    reason: 'the go command takes flags, toolchains, modules or commands from it',
    prefixes: ['CGO_', 'GOENV_'],
    names: [
      ...['GOFLAGS', 'GOENV', 'GOROOT', 'GOPATH', 'GOPROXY', 'GOTOOLCHAIN', 'GONOSUMDB', 'GONOSUMCHECK'],
      ...['GOSUMDB', 'GOPRIVATE', 'GONOPROXY', 'GOINSECURE', 'GOEXPERIMENT', 'GODEBUG', 'GOWORK', 'GOBIN'],
      ...['GOCACHE', 'GOMODCACHE', 'GOVCS', 'GOAUTH', 'GOPACKAGESDRIVER', 'GCCGO', 'GOTOOLDIR'],
    ],
  },
  {
    tier: 'always',
    reason:
      'cargo, rustc, rustup or a build script run a compiler, wrapper, generator or toolchain named by it, or take flags or a registry from it',
    prefixes: ['CARGO_', 'RUSTC', 'RUSTDOC', 'RUSTUP_', 'BINDGEN_'],
    names: ['RUSTFLAGS', 'LIBCLANG_PATH', 'LLVM_CONFIG_PATH', 'PROTOC', 'PROTOC_INCLUDE'],
    except: ['CARGO_REGISTRY_TOKEN', 'CARGO_REGISTRIES_*_TOKEN'],
  },
  {
    tier: 'always',
    reason:
      'make, configure, cmake, compilers, build caches and toolchain managers run the program named by it, take flags, headers or libraries from it, or fetch tools or build outputs from where it says',
    prefixes: [
      ...['CMAKE_', 'CC_', 'CXX_', 'CFLAGS_', 'CXXFLAGS_', 'ARFLAGS_', 'AR_', 'RANLIB_', 'PKG_CONFIG'],
      ...['CCACHE_', 'SCCACHE_', 'DISTCC_', 'VCPKG_', 'CONAN_', 'BAZEL'],
    ],
    names: [
      ...['CC', 'CXX', 'CPP', 'LD', 'AR', 'AS', 'FC', 'F77', 'RANLIB', 'NM', 'STRIP', 'OBJCOPY', 'OBJDUMP'],
      ...['YACC', 'LEX', 'M4', 'MAKE', 'CFLAGS', 'CXXFLAGS', 'CPPFLAGS', 'LDFLAGS', 'FFLAGS', 'FCFLAGS'],
      ...['LIBS', 'LDLIBS', 'MAKEFLAGS', 'GNUMAKEFLAGS', 'MFLAGS', 'MAKEFILES', 'CPATH', 'C_INCLUDE_PATH'],
      ...['CPLUS_INCLUDE_PATH', 'OBJC_INCLUDE_PATH', 'LIBRARY_PATH', 'COMPILER_PATH', 'GCC_EXEC_PREFIX'],
      ...['CCC_OVERRIDE_OPTIONS', 'CONFIG_SHELL', 'CONFIG_SITE', 'ACLOCAL', 'ACLOCAL_PATH', 'AUTOCONF'],
      ...['AUTOHEADER', 'AUTOMAKE', 'AUTOM4TE', 'LIBTOOL', 'LIBTOOLIZE', 'TARGET_CC', 'TARGET_CXX'],
      ...['TARGET_AR', 'TARGET_CFLAGS', 'TARGET_CXXFLAGS', 'TARGET_RANLIB', 'HOST_CC', 'HOST_CXX', 'HOST_AR'],
      ...['HOST_CFLAGS', 'HOST_CXXFLAGS', 'HOST_RANLIB', 'USE_BAZEL_VERSION', 'USE_BAZEL_FALLBACK_VERSION'],
      ...['DEVELOPER_DIR', 'TOOLCHAINS'],
    ],
    except: ['CC_TEST_REPORTER_ID'],
  },
  {
    tier: 'always',
    reason:
      'tar, zip, unzip, rsync or ssh take options that run commands from it, or run or load the program named by it',
    prefixes: [],
    names: [
      ...['TAR_OPTIONS', 'TAPE', 'ZIPOPT', 'UNZIP', 'UNZIPOPT', 'ZIPINFO', 'ZIPINFOOPT', 'RSYNC_RSH'],
      ...['RSYNC_CONNECT_PROG', 'SSH_SK_PROVIDER', 'SSH_SK_HELPER'],
    ],
  },
  {
    tier: 'always',
    reason:
      'tools run the program or editor commands named by it to show text, edit, compare or ask for input',
    prefixes: [],
    names: [
      ...['EDITOR', 'VISUAL', 'PAGER', 'MANPAGER', 'MANOPT', 'MANROFFOPT', 'GROFF_BIN_PATH', 'LESS'],
      ...['LESSOPEN', 'LESSCLOSE', 'LESSKEY', 'LESSKEYIN', 'LESSKEY_CONTENT', 'LESSEDIT', 'BROWSER'],
      ...['SSH_ASKPASS', 'SSH_ASKPASS_REQUIRE', 'SUDO_ASKPASS', 'SUDO_EDITOR', 'VIMINIT', 'EXINIT'],
      ...['GVIMINIT', 'VIMRUNTIME', 'VIM', 'MYVIMRC', 'MYGVIMRC', 'EMACSLOADPATH', 'FCEDIT', 'GH_PAGER'],
      ...['GH_EDITOR', 'GH_BROWSER', 'KUBE_EDITOR', 'KUBECTL_EXTERNAL_DIFF', 'AWS_PAGER', 'PSQL_PAGER'],
      ...['PSQL_EDITOR', 'SYSTEMD_PAGER', 'SYSTEMD_EDITOR'],
    ],
  },
  {
    tier: 'always',
    reason:
      'it chooses the certificates TLS trusts or turns its checks off (a man in the middle could read later traffic), records TLS keys, or makes OpenSSL load a module',
    prefixes: ['OPENSSL_'],
    names: [
      ...['SSL_CERT_FILE', 'SSL_CERT_DIR', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'AWS_CA_BUNDLE'],
      ...['SSLKEYLOGFILE', 'TWINE_CERT', 'GRPC_DEFAULT_SSL_ROOTS_FILE_PATH', 'HTTPLIB2_CA_CERTS'],
      ...['NIX_SSL_CERT_FILE', 'WEBSOCKET_CLIENT_CA_BUNDLE', 'VAULT_CACERT', 'VAULT_CAPATH'],
      ...[
        'VAULT_SKIP_VERIFY',
        'CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE',
        'AZURE_CLI_DISABLE_CONNECTION_VERIFICATION',
      ],
      'ADAL_PYTHON_SSL_NO_VERIFY',
    ],
    except: ['OPENSSL_PASSPHRASE'],
  },
  {
    tier: 'always',
    reason:
      'php, composer, lua, tcl, R, julia, haskell tools or psql run startup code, load libraries or extensions, or download packages from where it says',
    prefixes: ['COMPOSER_', 'XDEBUG_', 'LUA_', 'LUAROCKS_', 'R_', 'RENV_', 'JULIA_'],
    names: [
      ...['PHPRC', 'PHP_INI_SCAN_DIR', 'COMPOSER', 'TCLLIBPATH', 'TCL_LIBRARY', 'TK_LIBRARY'],
      ...['GHC_ENVIRONMENT', 'GHC_PACKAGE_PATH', 'CABAL_DIR', 'CABAL_CONFIG', 'STACK_ROOT', 'STACK_YAML'],
      'PSQLRC',
    ],
    except: ['COMPOSER_AUTH'],
  },
  {
    tier: 'always',
    reason: 'erlang, elixir, mix, hex or rebar3 run options (-eval) or load code or packages from it',
    prefixes: ['ERL_', 'ELIXIR_', 'MIX_', 'HEX_', 'REBAR'],
    names: [],
    except: ['HEX_API_KEY'],
  },
  {
    tier: 'always',
    reason:
      'terraform, ansible, packer, helm, kubectl, gcloud or az run or load plugins, providers, an interpreter or commands from it',
    prefixes: ['TF_CLI_', 'ANSIBLE_', 'PACKER_', 'CLOUDSDK_COMPONENT_MANAGER_', 'AZURE_EXTENSION_'],
    names: [
      ...['TF_PLUGIN_CACHE_DIR', 'TF_DATA_DIR', 'TERRAFORM_CONFIG', 'TERRAGRUNT_TFPATH', 'TG_TF_PATH'],
      ...['HELM_PLUGINS', 'HELM_DATA_HOME', 'KREW_ROOT', 'CLOUDSDK_PYTHON', 'CLOUDSDK_PYTHON_ARGS'],
      ...['CLOUDSDK_PYTHON_SITEPACKAGES', 'GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES'],
    ],
  },
  {
    tier: 'always',
    reason:
      'homebrew, a tool-version manager, pre-commit, flutter or dart run tools, hooks or packages from it, or download them from where it says',
    prefixes: ['HOMEBREW_', 'SDKMAN_', 'ASDF_', 'MISE_', 'PRE_COMMIT_', 'FLUTTER_'],
    names: ['PUB_HOSTED_URL', 'PUB_CACHE'],
    except: ['HOMEBREW_GITHUB_API_TOKEN'],
  },
  {
    tier: 'always',
    reason:
      'a build or test tool runs the command, compiler or linker it names, or loads code from where it says (MSBuild, dotnet, cibuildwheel, setuptools, autoconf, CMake, sonar-scanner, leiningen, nix, mercurial, subversion, GTK, OpenMP, napi-rs, pulumi, sops, restic, borg)',
    prefixes: ['CIBW_', 'ASM_', 'NIX_'],
    names: [
      ...['PREBUILDEVENT', 'POSTBUILDEVENT', 'RUNCOMMAND', 'RUNARGUMENTS', 'VSTESTTESTADAPTERPATH'],
      ...['LDSHARED', 'ARFLAGS', 'CXXCPP', 'OBJC', 'OBJCXX', 'CUDACXX', 'CUDAHOSTCXX', 'HIPCXX', 'SWIFTC'],
      ...[
        'RC',
        'ISPC',
        'ASM',
        'CMAKE',
        'INSTALL',
        'AWK',
        'SED',
        'GREP',
        'EGREP',
        'FGREP',
        'MKDIR_P',
        'LEX',
        'YACC',
      ],
      ...['SONAR_SCANNER_OPTS', 'SONAR_SCANNER_JAVA_OPTS', 'LEIN_JAVA_CMD', 'LEIN_JVM_OPTS', 'HGRCPATH'],
      ...['SVN_SSH', 'SVN_EDITOR', 'GIO_EXTRA_MODULES', 'GTK_MODULES', 'GTK_PATH', 'OMP_TOOL_LIBRARIES'],
      ...['NAPI_RS_NATIVE_LIBRARY_PATH', 'PULUMI_HOME', 'SOPS_AGE_KEY_CMD', 'RESTIC_PASSWORD_COMMAND'],
      ...['BORG_RSH', 'GOTMPDIR', 'PGSSLMODE', 'PGSSLROOTCERT', 'PGSSLCERT', 'PGSSLKEY', 'PGSERVICEFILE'],
    ],
  },
  {
    tier: 'always',
    reason:
      'it points tools at another configuration, data or cache directory or file, and such files can run commands',
    prefixes: ['XDG_'],
    names: ['CURL_HOME', 'WGETRC', 'SYSTEM_WGETRC'],
  },
  {
    tier: 'derived',
    reason:
      'it points a tool at another configuration or credentials file, and such files can name commands to run',
    prefixes: ['CLOUDSDK_', 'HELM_'],
    names: [
      ...[
        'KUBECONFIG',
        'AWS_CONFIG_FILE',
        'AWS_SHARED_CREDENTIALS_FILE',
        'AWS_PROFILE',
        'AWS_DEFAULT_PROFILE',
      ],
      ...[
        'AWS_WEB_IDENTITY_TOKEN_FILE',
        'COMPOSE_FILE',
        'COMPOSE_PROJECT_DIRECTORY',
        'AWS_DATA_PATH',
        'GOOGLE_APPLICATION_CREDENTIALS',
        'AZURE_CONFIG_DIR',
      ],
      ...['BOTO_CONFIG', 'BOTO_PATH', 'GNUPGHOME', 'GH_CONFIG_DIR', 'GLAB_CONFIG_DIR', 'NETRC', 'APT_CONFIG'],
      ...['PGPASSFILE', 'PGSERVICEFILE', 'REGISTRY_AUTH_FILE'],
    ],
  },
  {
    tier: 'derived',
    reason:
      "it points a tool at another daemon, server or endpoint, which then receives the job's credentials or builds, or answers in place of the real one",
    prefixes: [
      'DOCKER_',
      'BUILDX_',
      'CONTAINERS_',
      'AWS_ENDPOINT_URL',
      'AWS_CONTAINER_',
      'AWS_EC2_METADATA_',
    ],
    names: [
      ...['BUILDKIT_HOST', 'CONTAINER_HOST', 'CONTAINER_CONNECTION', 'SSH_AUTH_SOCK', 'GPG_AGENT_INFO'],
      ...['DBUS_SESSION_BUS_ADDRESS', 'GH_HOST', 'GH_REPO', 'GITLAB_HOST', 'GITLAB_URI', 'GITLAB_API_HOST'],
      ...[
        'VAULT_ADDR',
        'VAULT_AGENT_ADDR',
        'AZURE_AUTHORITY_HOST',
        'TWINE_REPOSITORY_URL',
        'TWINE_REPOSITORY',
      ],
      ...['PGHOST', 'PGHOSTADDR', 'PGSERVICE', 'MYSQL_HOST'],
    ],
    except: ['DOCKER_USERNAME', 'DOCKER_PASSWORD'],
  },
  {
    tier: 'derived',
    reason:
      'it chooses where tools write temporary files, which can hold credentials or scripts that they then run',
    prefixes: [],
    names: ['TMPDIR', 'TMP', 'TEMP'],
  },
  {
    tier: 'derived',
    reason: 'it sends later network traffic through a proxy it names, or past the proxy the job uses',
    prefixes: ['GLOBAL_AGENT_'],
    names: [
      ...['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'FTP_PROXY', 'NO_PROXY', 'SOCKS_PROXY', 'SOCKS5_PROXY'],
      ...['GRPC_PROXY', 'RSYNC_PROXY', 'WS_PROXY', 'WSS_PROXY'],
    ],
  },
];
