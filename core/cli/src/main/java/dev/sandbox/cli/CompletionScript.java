package dev.sandbox.cli;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import picocli.AutoComplete;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

/**
 * The shell completion script, generated from the picocli command definition: picocli's
 * {@link AutoComplete} script (verbs, options, option values) followed by a small dynamic layer that
 * picocli's static scripts can't express:
 * <ul>
 *   <li>a positional labelled {@value #SPEC_LABEL} completes YAML files (and directories);</li>
 *   <li>a positional labelled {@value #NAME_LABEL} completes the names of running sandboxes, listed
 *       from the runtime directory by the shell itself — no JVM, so TAB stays instant.</li>
 * </ul>
 * Everything else goes to picocli's function. The labels are the contract with the verbs: a verb
 * that takes a sandbox name ({@code exec}, {@code down}, {@code logs}, {@code inspect}, {@code wait})
 * labels it {@code NAME} and completes names without any change here.
 */
final class CompletionScript {

    static final String SPEC_LABEL = "SPEC";
    static final String NAME_LABEL = "NAME";

    /** The shell functions of the dynamic layer (tests call them by these names). */
    static final String COMPLETE_FUNCTION = "_sandbox_complete";
    static final String NAMES_FUNCTION = "_sandbox_running_names";
    static final String BASE_FUNCTION = "_sandbox_runtime_base";

    private CompletionScript() {}

    /** The script for bash; zsh runs the same script through bashcompinit (picocli sets that up at its top). */
    static String generate(CommandLine root) {
        String name = root.getCommandName();
        return AutoComplete.bash(name, root) + "\n" + dynamicLayer(root.getCommandSpec());
    }

    static String dynamicLayer(CommandSpec root) {
        String name = root.name();
        StringBuilder s = new StringBuilder();
        s.append("""
                # ---------------------------------------------------------------------------
                # sandbox's dynamic layer (generated with the script above from the same CLI definition).
                # A positional labelled SPEC completes YAML files; one labelled NAME completes running sandboxes.

                # The runtime directory, chosen as sandbox chooses it (RuntimePaths): $SANDBOX_RUNTIME_DIR, else
                # /run/sandbox for root, else $XDG_RUNTIME_DIR/sandbox when that is a writable directory, else
                # /tmp/sandbox-$UID.
                function %5$s() {
                  if [ -n "${SANDBOX_RUNTIME_DIR-}" ]; then printf '%%s\\n' "$SANDBOX_RUNTIME_DIR"
                  elif [ "${UID-}" = 0 ]; then printf '%%s\\n' /run/sandbox
                  elif [ -n "${XDG_RUNTIME_DIR-}" ] && [ -d "$XDG_RUNTIME_DIR" ] && [ -w "$XDG_RUNTIME_DIR" ]; then
                    printf '%%s\\n' "$XDG_RUNTIME_DIR/sandbox"
                  else printf '%%s\\n' "/tmp/sandbox-${UID-}"
                  fi
                }

                # Names of running sandboxes: the entries of the runtime directory with a live pid file. Listed
                # by the shell itself, no JVM, so TAB stays instant.
                function %2$s() {
                  if [ -n "${ZSH_VERSION-}" ]; then setopt localoptions nullglob; fi
                  local base d pid
                  base=$(%5$s)
                  [ -d "$base" ] || return 0
                  for d in "$base"/*; do
                    # hidden entries (.NAME.new-*) are being born or removed; a sandbox without a live pid is not running;
                    # NAME@exec-ID is an exec session inside NAME (docs/cli.md, exec), not a sandbox
                    case ${d##*/} in *@exec-*) continue ;; esac
                    [ -f "$d/pid" ] && [ -r "$d/pid" ] || continue
                    pid=
                    read -r pid < "$d/pid"
                    case $pid in ''|*[!0-9]*) continue ;; esac
                    [ -d "/proc/$pid" ] || continue
                    printf '%%s\\n' "${d##*/}"
                  done
                }

                # Entry point: works out the verb and which positional the cursor is on; SPEC and NAME
                # positionals are completed here, everything else by picocli's _complete_%1$s.
                function %3$s() {
                  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
                  local verb= w i=1 idx=0 kind= argopts= dashdash=
                  local -a rules=()
                  local rootargopts=' %4$s '
                  # the verb: the first word that is neither an option nor an option's value
                  while (( i < COMP_CWORD )); do
                    w=${COMP_WORDS[i]}
                    if [[ $rootargopts == *" $w "* ]]; then
                      # bash splits --opt=value into '--opt' '=' 'value'
                      if [[ ${COMP_WORDS[i+1]-} == = ]]; then (( i += 3 )); else (( i += 2 )); fi
                      continue
                    fi
                    case $w in
                      -*|=) ;;
                      *) verb=$w; break ;;
                    esac
                    (( ++i ))
                  done
                  case $verb in
                """.formatted(name, NAMES_FUNCTION, COMPLETE_FUNCTION, String.join(" ", argOptions(root)), BASE_FUNCTION));
        for (Map.Entry<String, CommandLine> e : root.subcommands().entrySet()) {
            CommandSpec sub = e.getValue().getCommandSpec();
            List<String> kinds = new ArrayList<>();
            for (PositionalParamSpec p : sub.positionalParameters()) {
                String kind = p.paramLabel().equals(SPEC_LABEL) ? "spec" : p.paramLabel().equals(NAME_LABEL) ? "names" : null;
                if (kind == null) continue;
                kinds.add(p.index().min() + ":" + p.index().max() + ":" + kind);
            }
            if (kinds.isEmpty()) continue; // nothing dynamic: picocli's function does it all
            s.append("    ").append(shellWord(e.getKey())).append(")\n");
            s.append("      argopts=' ").append(String.join(" ", argOptions(sub))).append(" '\n");
            s.append("      rules=(").append(String.join(" ", kinds)).append(")\n");
            s.append("      ;;\n");
        }
        s.append("""
                    *)
                      # no verb yet, a verb without SPEC/NAME positionals, or a word that is no verb at all
                      _complete_%1$s; return $?
                      ;;
                  esac
                  # an option or an option's value: picocli knows them
                  if [[ $cur == -* ]] || [[ $argopts == *" $prev "* ]] \\
                      || { [[ $prev == = ]] && [[ $argopts == *" ${COMP_WORDS[COMP_CWORD-2]-} "* ]]; }; then
                    _complete_%1$s; return $?
                  fi
                  # which positional the cursor is on
                  (( ++i ))
                  while (( i < COMP_CWORD )); do
                    w=${COMP_WORDS[i]}
                    if [ -n "$dashdash" ]; then
                      (( ++idx ))
                    elif [[ $w == -- ]]; then
                      dashdash=1
                    elif [[ $argopts == *" $w "* ]]; then
                      if [[ ${COMP_WORDS[i+1]-} == = ]]; then (( i += 2 )); else (( ++i )); fi
                    elif [[ $w != -* ]] && [[ $w != = ]]; then
                      (( ++idx ))
                    fi
                    (( ++i ))
                  done
                  # rules: MIN:MAX:KIND, the positionals' index ranges
                  for w in "${rules[@]}"; do
                    i=${w#*:}
                    if (( idx >= ${w%%%%:*} && idx <= ${i%%%%:*} )); then kind=${i#*:}; fi
                  done
                  # compopt is bash's (in zsh, picocli's script aliases it to complete, which would register completions)
                  local IFS=$'\\n'
                  case $kind in
                    spec)
                      if [ -n "${BASH_VERSION-}" ]; then builtin compopt -o filenames +o default 2>/dev/null; fi
                      COMPREPLY=( $(compgen -d -- "$cur"; compgen -f -X '!*.yaml' -- "$cur"; compgen -f -X '!*.yml' -- "$cur") )
                      ;;
                    names)
                      if [ -n "${BASH_VERSION-}" ]; then builtin compopt +o default 2>/dev/null; fi
                      COMPREPLY=( $(compgen -W "$(%2$s)" -- "$cur") )
                      ;;
                    *)
                      _complete_%1$s; return $?
                      ;;
                  esac
                }

                complete -F %3$s -o default %1$s
                """.formatted(name, NAMES_FUNCTION, COMPLETE_FUNCTION));
        return s.toString();
    }

    /** The names of the options of {@code spec} that take a value (the word after them is not a positional). */
    static Set<String> argOptions(CommandSpec spec) {
        Set<String> names = new LinkedHashSet<>();
        for (OptionSpec o : spec.options()) {
            if (o.arity().max() > 0) names.addAll(List.of(o.names()));
        }
        return names;
    }

    /** Verb names come from our own annotations; quote anything unusual all the same. */
    private static String shellWord(String word) {
        return word.matches("[A-Za-z0-9_.-]+") ? word : "'" + word.replace("'", "'\\''") + "'";
    }
}
