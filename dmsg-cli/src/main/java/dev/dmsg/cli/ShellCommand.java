package dev.dmsg.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dmsg.services.node.GuestNode;
import dev.dmsg.services.shell.ShellClient;
import dev.dmsg.services.shell.ShellClient.ShellException;
import dev.dmsg.wire.ErrorCode;
import dev.dmsg.wire.PeerType;
import java.io.BufferedReader;
import java.io.Console;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Consumer;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dmsg shell}: the node's DBG shell from a terminal, a script, or one {@code -c} command.
 * Every line the user types goes to the node as it is (one DBG_SHELL transaction each, see
 * {@link ShellClient}); the node, not this class, knows the commands. Exit statuses are the same
 * in all three modes: 0 all commands succeeded, 1 one failed, 2 the node was not reached or lost.
 */
@Command(name = "shell", mixinStandardHelpOptions = true,
    description = {"Runs commands on a node's DBG shell: interactively (line editing, history, tab completion) "
        + "when stdin is a terminal, one per line from stdin otherwise (blank lines and #comments skipped), "
        + "or just COMMAND with -c. '@NODE COMMAND' runs COMMAND on another node of the mesh.",
        "Exit 0 when every command succeeded, 1 when one failed (its output is still printed), "
            + "2 when the node cannot be reached, does not answer within --timeout, or the link is lost."})
final class ShellCommand extends AdminCommands.NodeOption implements Callable<Integer> {
    static final int OK = 0;
    static final int FAILED = 1;
    static final int UNREACHABLE = 2;
    static final int HISTORY_ENTRIES = 1000;

    @Option(names = {"-c", "--command"}, paramLabel = "COMMAND", description = "run COMMAND, print its output and exit")
    String command;

    @Option(names = "--timeout", paramLabel = "DURATION", converter = Durations.class, defaultValue = "60s",
        description = "how long one command may take (default: ${DEFAULT-VALUE})")
    Duration timeout;

    @Override
    public Integer call() {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ShellClient client;
        try {
            client = open(timeout.compareTo(AdminCommands.TIMEOUT) < 0 ? timeout : AdminCommands.TIMEOUT);
            // Link warnings (a slow close after a timeout) would only repeat what we print, or break the prompt.
            Logging.setLevel("dev.dmsg.link", "ERROR");
        } catch (ShellException e) {
            err.println("dmsg shell: " + e.getMessage()); // the message names the address
            return UNREACHABLE;
        }
        try (client) {
            if (command != null) {
                return runOne(client, command, out, err);
            }
            if (stdinIsTerminal()) {
                return interactive(client, err);
            }
            return script(client, System.in, out, err);
        } catch (IOException e) {
            err.println("dmsg shell: " + e.getMessage());
            return FAILED;
        }
    }

    /** A one-shot or script command: output to {@code out}; returns OK, FAILED or UNREACHABLE. */
    int runOne(ShellClient c, String line, PrintStream out, PrintStream err) {
        try {
            int status = run(c, line, out::print);
            out.flush();
            if (status == 0) {
                return OK;
            }
            err.println("dmsg shell: '" + line + "' failed (" + ErrorCode.nameOf(status) + ")");
            return FAILED;
        } catch (ShellException e) {
            out.flush();
            err.println("dmsg shell: node " + node + ": " + reason(c, e));
            return UNREACHABLE;
        }
    }

    /** Script mode: stops at the first UNREACHABLE, goes on after a failed command. */
    int script(ShellClient c, InputStream in, PrintStream out, PrintStream err) throws IOException {
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        int result = OK;
        for (String line; (line = r.readLine()) != null; ) {
            String t = line.strip();
            if (t.isEmpty() || t.startsWith("#")) {
                continue;
            }
            if (t.equals("exit") || t.equals("quit")) {
                break;
            }
            int s = runOne(c, t, out, err);
            if (s == UNREACHABLE) {
                return UNREACHABLE;
            }
            result = Math.max(result, s);
        }
        return result;
    }

    int interactive(ShellClient c, PrintStream err) throws IOException {
        // Prompt and completion data are niceties: without them the shell still works.
        Duration quick = timeout.compareTo(AdminCommands.TIMEOUT) < 0 ? timeout : AdminCommands.TIMEOUT;
        String label = node.toString();
        List<String> commands = List.of();
        try {
            if (c.legacyNode()) {
                // docs/LEGACY.md: a 2013 C node has no status document; its shell knows four commands
                label = node + " (2013 C node)";
                commands = List.of("help", "tree", "span", "circ");
                err.println("dmsg shell: " + node + " is a 2013 C node: its commands are help, tree, span HOST "
                    + "and circ MSGID");
            } else {
                label = status(c, quick).path("node").path("label").asText(label);
                commands = ShellCompleter.commandNames(c.call("help", quick));
            }
        } catch (ShellException | IOException e) {
            err.println("dmsg shell: " + e.getMessage() + " (no completion)");
        }
        // Node labels are fetched at each completion that needs them: the span tree changes.
        ShellCompleter completer = new ShellCompleter(commands, () -> nodeLabels(c, quick));
        Path historyFile = historyFile(System.getenv());

        try (Terminal terminal = TerminalBuilder.builder().system(true).build()) {
            LineReader reader = LineReaderBuilder.builder().terminal(terminal).appName("dmsg")
                .completer(completer)
                .variable(LineReader.HISTORY_FILE, historyFile)
                .variable(LineReader.HISTORY_SIZE, HISTORY_ENTRIES)
                .variable(LineReader.HISTORY_FILE_SIZE, HISTORY_ENTRIES)
                .option(LineReader.Option.DISABLE_EVENT_EXPANSION, true) // '!' is an ordinary character to the node
                .option(LineReader.Option.AUTO_FRESH_LINE, true)         // output without a final newline
                .build();
            // Outside readLine (which handles Ctrl-C itself) Ctrl-C stops waiting for the running command.
            Thread shellThread = Thread.currentThread();
            terminal.handle(Terminal.Signal.INT, sig -> shellThread.interrupt());
            PrintWriter w = terminal.writer();
            try {
                return loop(c, reader, label + "> ", w, err);
            } finally {
                reader.getHistory().save();
            }
        }
    }

    private int loop(ShellClient c, LineReader reader, String prompt, PrintWriter w, PrintStream err) {
        while (true) {
            String line;
            try {
                line = reader.readLine(prompt);
            } catch (UserInterruptException e) {
                continue; // Ctrl-C: the line is dropped
            } catch (EndOfFileException e) {
                return OK; // Ctrl-D
            }
            String t = line.strip();
            if (t.isEmpty()) {
                continue;
            }
            if (t.equals("exit") || t.equals("quit")) {
                return OK;
            }
            Thread.interrupted(); // a Ctrl-C between commands must not cancel this one
            boolean[] newline = {true};
            try {
                int status = run(c, t, s -> {
                    w.print(s);
                    w.flush();
                    newline[0] = s.endsWith("\n");
                });
                if (status != 0) {
                    w.println((newline[0] ? "" : "\n") + "(failed: " + ErrorCode.nameOf(status) + ")");
                }
            } catch (ShellException e) {
                if (Thread.interrupted()) {
                    w.println((newline[0] ? "" : "\n") + "(interrupted; the node may still finish the command)");
                } else if (!c.link().state().isAlive()) {
                    w.flush();
                    err.println("dmsg shell: node " + node + ": " + reason(c, e));
                    return UNREACHABLE;
                } else {
                    w.println((newline[0] ? "" : "\n") + "(" + e.getMessage() + ")"); // timed out; the link is up
                }
            }
            w.flush();
        }
    }

    /**
     * Runs {@code line} bounded by --timeout. Output that arrives after we stopped waiting (timeout,
     * Ctrl-C) is dropped, so it cannot land in the middle of the next command's.
     */
    private int run(ShellClient c, String line, Consumer<String> output) throws ShellException {
        Object gate = new Object();
        boolean[] open = {true};
        try {
            return c.run(line, s -> {
                synchronized (gate) {
                    if (open[0]) {
                        output.accept(s);
                    }
                }
            }, timeout);
        } finally {
            synchronized (gate) {
                open[0] = false;
            }
        }
    }

    /** The user's explanation of a failed {@link ShellClient#run}: for a lost link, why it died. */
    static String reason(ShellClient c, ShellException e) {
        if (c.link().state().isAlive()) {
            return e.getMessage(); // no answer within --timeout
        }
        return "link to the node lost: " + c.link().closeReason();
    }

    static JsonNode status(ShellClient c, Duration timeout) throws ShellException, IOException {
        return AdminCommands.JSON.readTree(c.call("status --json", timeout));
    }

    /** {@link #nodeLabels(JsonNode)} of the node's status, or none when it cannot be had. */
    static List<String> nodeLabels(ShellClient c, Duration timeout) {
        if (c.legacyNode()) {
            return new ArrayList<>(); // no status document to read them from
        }
        try {
            return nodeLabels(status(c, timeout));
        } catch (ShellException | IOException e) {
            return new ArrayList<>(); // no candidates rather than an error in the middle of the user's line
        }
    }

    /**
     * The names worth suggesting for {@code @NODE} and {@code ping NODE}: {@code spans[].fs_label}
     * of a status document, once each, without exports (a BLOCK span's fs_label is its serial)
     * and without tools' short-lived guest nodes ({@link GuestNode#isGuestLabel}).
     */
    static List<String> nodeLabels(JsonNode status) {
        List<String> out = new ArrayList<>();
        for (JsonNode s : status.path("spans")) {
            String l = s.path("fs_label").asText("");
            if (!l.isEmpty() && !out.contains(l) && !s.path("peer_type").asText().equals(PeerType.BLOCK.name())
                && !GuestNode.isGuestLabel(l)) {
                out.add(l);
            }
        }
        return out;
    }

    /** {@code $DMSG_HISTORY}, else {@code ~/.dmsg_history} with {@code ~} as the user's shell has it. */
    static Path historyFile(Map<String, String> env) {
        String history = env.get("DMSG_HISTORY");
        return history != null && !history.isEmpty() ? Path.of(history) : AdminCommands.home(env).resolve(".dmsg_history");
    }

    static boolean stdinIsTerminal() {
        Console console = System.console();
        if (console == null) {
            return false;
        }
        try {
            // JDK 22+: console() is non-null even when redirected; isTerminal() tells.
            return (Boolean) Console.class.getMethod("isTerminal").invoke(console);
        } catch (ReflectiveOperationException e) {
            return true; // JDK 17-21: console() is non-null only when stdin and stdout are terminals
        }
    }
}
