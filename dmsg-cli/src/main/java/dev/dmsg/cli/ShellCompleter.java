package dev.dmsg.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.jline.reader.Candidate;
import org.jline.reader.Completer;
import org.jline.reader.LineReader;
import org.jline.reader.ParsedLine;

/**
 * Tab completion for {@code dmsg shell}. A line is {@code [@NODE] COMMAND ARGS...}: the command
 * word completes from the node's command names, a first word starting with {@code @} (or an
 * empty one) also from {@code @label} for every node of the span tree, and the word after
 * {@code ping} from node labels. Nothing else is completed: the node knows the arguments, we
 * don't, and a wrong guess is worse than none.
 */
final class ShellCompleter implements Completer {
    private final List<String> commands;
    private final Supplier<List<String>> nodes;

    /** {@code nodes} is asked at each completion that needs it (the span tree changes). */
    ShellCompleter(List<String> commands, Supplier<List<String>> nodes) {
        this.commands = List.copyOf(commands);
        this.nodes = nodes;
    }

    @Override
    public void complete(LineReader reader, ParsedLine line, List<Candidate> candidates) {
        for (String c : candidates(line.words(), line.wordIndex())) {
            candidates.add(new Candidate(c));
        }
    }

    /**
     * What the word at {@code index} of {@code words} may be; JLine filters by the typed prefix.
     * Words after {@code index} are ignored.
     */
    List<String> candidates(List<String> words, int index) {
        // An @NODE prefix shifts the command one word right.
        int commandAt = !words.isEmpty() && words.get(0).startsWith("@") ? 1 : 0;
        List<String> out = new ArrayList<>();
        if (index == 0) {
            out.addAll(commands);
            nodes.get().forEach(n -> out.add("@" + n));
        } else if (index == commandAt) {
            out.addAll(commands);
        } else if (index == commandAt + 1 && words.size() > commandAt && words.get(commandAt).equals("ping")) {
            out.addAll(nodes.get());
        }
        return out;
    }

    /**
     * The command names in the output of {@code help}: the first word of each line, but for the
     * line that explains {@code @NODE COMMAND} (its node is completed from the span tree).
     */
    static List<String> commandNames(String helpOutput) {
        List<String> out = new ArrayList<>();
        for (String l : helpOutput.split("\n")) {
            String w = l.strip().split("\\s+", 2)[0];
            if (!w.isEmpty() && !w.startsWith("@") && !out.contains(w)) {
                out.add(w);
            }
        }
        return out;
    }
}
