package dev.dmsg.services.shell;

import dev.dmsg.link.Link;
import dev.dmsg.services.Access;
import dev.dmsg.link.Services;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The DBG shell (reference §7, PROFILE §7): a command line in the aux of DBG_SHELL, output as
 * DBG_SHELL|REPLY text, end of output as LNK_ERROR|REPLY. Both forms C used are served:
 * <ul>
 *   <li>one-way DBG_SHELL (the C client, {@code hammer2 shell}): output in one-way
 *       DBG_SHELL|REPLY messages, then a one-way LNK_ERROR|REPLY with error 0 (the prompt);</li>
 *   <li>DBG_SHELL as a transaction (our client): output in DBG_SHELL|REPLY elements, then
 *       LNK_ERROR|DELETE|REPLY carrying the command's status (0 = success) — how a one-shot
 *       client learns that a command failed.</li>
 * </ul>
 * Commands run on their own executor, never on a link's event loop (they may wait for the mesh).
 * Output goes out in pieces of at most {@link #CHUNK} characters, as C's 1 KiB printf buffer did.
 */
public final class ShellService {
    private static final Logger log = LoggerFactory.getLogger(ShellService.class);
    public static final int CHUNK = 1023;
    /** The longest command line accepted (C: fgets into 256 bytes). Longer lines are refused. */
    public static final int MAX_LINE = 4096;
    /** A command's status when it is unknown or its arguments are wrong. */
    public static final int ERR_USAGE = Dmsg.ERR_PARAM;
    /** The answer when the executor refuses more work: commands are bounded, never queued without limit. */
    static final String BUSY = "node busy: too many shell commands running; try again\n";

    /** One shell command. */
    @FunctionalInterface
    public interface Command {
        /** Runs with the words after the command name; writes output to {@code out}; returns 0 or an error code. */
        int run(List<String> args, StringBuilder out) throws Exception;
    }

    private record Entry(String usage, Access.Level level, Command command) {}

    /** Who sent a command line: its link and circuit (null: this node's own API, fully trusted). */
    public record Caller(Link link, long circuit) {}

    private final Map<String, Entry> commands = new TreeMap<>();
    private final Executor executor;
    private final Access access;
    private volatile Command remote;

    /** Every plaintext caller is an admin ({@link Access#plaintextAdmin()}). */
    public ShellService(Executor executor) {
        this(executor, Access.plaintextAdmin());
    }

    public ShellService(Executor executor, Access access) {
        this.executor = executor;
        this.access = access;
        add("help", "help                      this list", (args, out) -> {
            commands.values().forEach(e -> out.append(e.usage).append('\n'));
            return 0;
        });
    }

    /** A command that only reads the node's state. */
    public ShellService add(String name, String usage, Command c) {
        return add(name, usage, Access.Level.READ, c);
    }

    /** A command that needs {@code level} (docs/SECURITY.md §5): CHANGE is for admins only. */
    public ShellService add(String name, String usage, Access.Level level, Command c) {
        commands.put(name, new Entry(usage, level, c));
        return this;
    }

    /**
     * What {@code @NODE COMMAND} does: {@code remote} runs with two arguments, the node's name and
     * the rest of the line (unsplit). Without it such lines are unrecognized.
     */
    public ShellService remote(String usage, Command remote) {
        this.remote = remote;
        commands.put("@", new Entry(usage, Access.Level.READ, (args, out) -> {
            throw new IllegalArgumentException("expected @NODE COMMAND");
        }));
        return this;
    }

    public Services register(Services services) {
        services.accept(Dmsg.DBG_SHELL, this::accept);
        services.oneWay(Dmsg.DBG_SHELL, this::oneWay);
        return services;
    }

    /** Runs {@code line} for this node itself (no role check); returns [status, output]. */
    public Result execute(String line) {
        return execute(line, null);
    }

    /**
     * Runs {@code line} for {@code caller}: a command its role does not allow is refused with
     * PERM, a line saying what it needs, and a count on the caller's link.
     */
    public Result execute(String line, Caller caller) {
        List<String> words = new ArrayList<>(Arrays.asList(line.trim().split("\\s+")));
        words.removeIf(String::isEmpty);
        StringBuilder out = new StringBuilder();
        if (words.isEmpty()) {
            return new Result(0, "");
        }
        String name = words.remove(0);
        if (name.equals("?")) {
            name = "help";
        }
        if (name.startsWith("@") && name.length() > 1 && remote != null) {
            Result refused = refuse(caller, "@", Access.Level.READ, line);
            if (refused != null) {
                return refused;
            }
            String rest = line.trim().substring(name.length()).trim();
            if (rest.isEmpty()) {
                return new Result(ERR_USAGE, "usage: " + commands.get("@").usage + "\n");
            }
            try {
                int status = remote.run(List.of(name.substring(1), rest), out);
                return new Result(status, out.toString());
            } catch (IllegalArgumentException ex) {
                return new Result(ERR_USAGE, out + name + ": " + ex.getMessage() + "\n");
            } catch (Exception ex) {
                log.warn("shell command '{}' failed", line, ex);
                return new Result(Dmsg.ERR_IO, out + name + " failed: " + ex + "\n");
            }
        }
        Entry e = commands.get(name);
        if (e == null) {
            return new Result(ERR_USAGE, "Unrecognized command: " + name + " (try help)\n");
        }
        Result refused = refuse(caller, name, e.level, line);
        if (refused != null) {
            return refused;
        }
        try {
            int status = e.command.run(words, out);
            return new Result(status, out.toString());
        } catch (IllegalArgumentException ex) {
            return new Result(ERR_USAGE, out + name + ": " + ex.getMessage() + "\nusage: " + e.usage + "\n");
        } catch (Exception ex) {
            log.warn("shell command '{}' failed", line, ex);
            return new Result(Dmsg.ERR_IO, out + name + " failed: " + ex + "\n");
        }
    }

    public record Result(int status, String output) {}

    /** The PERM answer when {@code caller}'s role does not allow {@code level}, or null. */
    private Result refuse(Caller caller, String name, Access.Level level, String line) {
        if (caller == null || access.allows(caller.link(), caller.circuit(), level)) {
            return null;
        }
        String who = access.who(caller.link(), caller.circuit());
        caller.link().denied("shell '" + line + "' from " + who);
        String needs = level == Access.Level.CHANGE ? "the admin role (it changes this node)"
            : "the admin or member role, or a client granted shell-ro";
        return new Result(Dmsg.ERR_PERM, name + ": refused: needs " + needs + "; " + who + " may not\n");
    }

    static String lineOf(Message m) {
        return m.auxBytes() == 0 ? "" : m.auxString();
    }

    private TransactionHandler accept(Transaction txn, Message create) {
        String line = lineOf(create);
        run(line, new Caller(txn.link(), txn.circuit()), r -> {
            for (String piece : chunks(r.output())) {
                txn.send(Dmsg.DBG_SHELL, null, Unpooled.copiedBuffer(piece + "\0", StandardCharsets.UTF_8));
            }
            txn.reply(r.status());
        }, () -> {
            txn.send(Dmsg.DBG_SHELL, null, Unpooled.copiedBuffer(BUSY + "\0", StandardCharsets.UTF_8));
            txn.reply(Dmsg.ERR_IO);
        });
        return (t, m) -> { }; // one command per transaction; its DELETE needs no answer beyond ours
    }

    private void oneWay(Link link, Message m) {
        if (m.isReply()) {
            return; // output of a shell on the other side: not ours to answer
        }
        String line = lineOf(m);
        run(line, new Caller(link, m.circuit()), r -> {
            for (String piece : chunks(r.output())) {
                link.sendOneWay(Dmsg.DBG_SHELL | Dmsg.REPLY, null, Unpooled.copiedBuffer(piece + "\0", StandardCharsets.UTF_8));
            }
            link.sendOneWay(Dmsg.LNK_ERROR | Dmsg.REPLY, null, null); // the prompt
        }, () -> { });
    }

    private void run(String line, Caller caller, java.util.function.Consumer<Result> then, Runnable refused) {
        Link link = caller.link();
        if (line.length() > MAX_LINE) {
            then.accept(new Result(ERR_USAGE, "command line of " + line.length() + " characters; max " + MAX_LINE + "\n"));
            return;
        }
        try {
            executor.execute(() -> {
                Result r = execute(line, caller);
                log.debug("shell {}: '{}' -> {}", link.peerLabel(), line, r.status());
                then.accept(r);
            });
        } catch (RejectedExecutionException e) {
            refused.run();
        }
    }

    static List<String> chunks(String s) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < s.length(); i += CHUNK) {
            out.add(s.substring(i, Math.min(s.length(), i + CHUNK)));
        }
        return out;
    }
}
