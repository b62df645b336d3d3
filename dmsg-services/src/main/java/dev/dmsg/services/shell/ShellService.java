package dev.dmsg.services.shell;

import dev.dmsg.link.Link;
import dev.dmsg.link.Services;
import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.link.tls.Role;
import dev.dmsg.services.Access;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The DBG shell (docs/REFERENCE.md §7, docs/PROFILE.md §7): a command line in the aux of DBG_SHELL, output as
 * DBG_SHELL|REPLY text, end of output as LNK_ERROR|REPLY. Both forms C used are served:
 * <ul>
 *   <li>one-way DBG_SHELL (the C client, {@code hammer2 shell}): output in one-way
 *       DBG_SHELL|REPLY messages, then a one-way LNK_ERROR|REPLY with error 0 (the prompt);</li>
 *   <li>DBG_SHELL as a transaction (our client): output in DBG_SHELL|REPLY elements, then
 *       LNK_ERROR|DELETE|REPLY carrying the command's status (0 = success) — how a one-shot
 *       client learns that a command failed.</li>
 * </ul>
 *
 * <p><b>Who runs what.</b> Each command line runs for a {@link Caller}; its {@link Access.Principal}
 * decides what it may run (docs/SECURITY.md §5, docs/IDENTITY.md §5). {@code @NODE COMMAND} runs
 * COMMAND on NODE for the same caller — on this node itself too — and nests at most
 * {@link Delegation#MAX_DEPTH} deep.
 *
 * <p><b>Bounds.</b> Local commands run on their own executor (bounded), never on a link's event
 * loop; a {@code @NODE} command holds no thread while it waits for the far end (it is
 * asynchronous), so nested or slow remote commands cannot starve the shell. Each principal may
 * have at most {@link #PER_CALLER} commands in progress here at each nesting level (a chain of
 * {@code @} hops holds one slot per level it passes through); more are answered "busy" at once.
 * Output goes out in pieces of at most {@link #CHUNK} characters, as C's 1 KiB printf buffer did.
 */
public final class ShellService {
    private static final Logger log = LoggerFactory.getLogger(ShellService.class);
    public static final int CHUNK = 1023;
    /** The longest command line accepted (C: fgets into 256 bytes). Longer lines are refused. */
    public static final int MAX_LINE = 4096;
    /** A command's status when it is unknown or its arguments are wrong. */
    public static final int ERR_USAGE = Dmsg.ERR_PARAM;
    /** Commands one principal may have in progress on this node at once (running, queued or waiting remotely). */
    public static final int PER_CALLER = 4;
    /** The answer when the executor refuses more work: commands are bounded, never queued without limit. */
    static final String BUSY = "node busy: too many shell commands running; try again\n";
    /** How long {@link #execute(String, Caller)} waits for a remote command (the remote side bounds it too). */
    static final long REMOTE_WAIT_SECONDS = 60;

    /** One shell command. */
    @FunctionalInterface
    public interface Command {
        /** Runs with the words after the command name; writes output to {@code out}; returns 0 or an error code. */
        int run(List<String> args, StringBuilder out) throws Exception;
    }

    /**
     * What {@code @NODE COMMAND} does: runs {@code line} on the node {@code node} names, for
     * {@code caller}, one level deeper ({@code delegation} is the caller as it travels on).
     * Returns at once; the future completes with COMMAND's status and output. Called on the
     * shell's executor.
     */
    @FunctionalInterface
    public interface Remote {
        CompletableFuture<Result> run(Caller caller, Delegation delegation, String node, String line);
    }

    private record Entry(String usage, Access.Level level, Command command) {}

    /**
     * Who sent a command line: its link and circuit, and the caller it was passed on for, if a
     * shell passed it on ({@code delegation}, null otherwise). A null caller, or one without a
     * link, is this node's own API, fully trusted (its delegation then only counts the depth).
     */
    public record Caller(Link link, long circuit, Delegation delegation) {
        public Caller(Link link, long circuit) {
            this(link, circuit, null);
        }

        int depth() {
            return delegation == null ? 0 : delegation.depth();
        }
    }

    private final Map<String, Entry> commands = new TreeMap<>();
    private final Executor executor;
    private final Access access;
    private final CallerLimits limits = new CallerLimits(PER_CALLER);
    private volatile Remote remote;
    private volatile String remoteUsage;
    private volatile String selfName = "this-node";
    private volatile String selfFingerprint = "none";

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
     * The node this shell runs on, named in the delegation of the commands it passes on for
     * itself (its own API, {@link #execute(String)}).
     */
    public ShellService self(String name, String fingerprint) {
        this.selfName = name;
        this.selfFingerprint = fingerprint == null ? "none" : fingerprint;
        return this;
    }

    /** Sets what {@code @NODE COMMAND} does; without it such lines are unrecognized. */
    public ShellService remote(String usage, Remote remote) {
        this.remote = remote;
        this.remoteUsage = usage;
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

    /** Runs {@code line} for this node itself (no role check); returns [status, output]. Blocks. */
    public Result execute(String line) {
        return execute(line, null);
    }

    /**
     * Runs {@code line} for {@code caller} and waits for it: a command its principal may not run
     * is refused with PERM, a line saying what it needs, and a count on the caller's link. Not on
     * an event loop: a {@code @NODE} line waits for the far end.
     */
    public Result execute(String line, Caller caller) {
        try {
            return executeAsync(line, caller).get(REMOTE_WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            return new Result(Dmsg.ERR_IO, "'" + line + "' failed: " + e.getCause() + "\n");
        } catch (TimeoutException e) {
            return new Result(Dmsg.ERR_IO, "'" + line + "': no answer within " + REMOTE_WAIT_SECONDS + " s\n");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(Dmsg.ERR_IO, "interrupted\n");
        }
    }

    /**
     * Runs {@code line} for {@code caller} on the calling thread — local commands at once,
     * {@code @NODE} ones by starting them — and completes when it is done. No per-caller limit
     * here ({@link #run} takes it).
     */
    public CompletableFuture<Result> executeAsync(String line, Caller caller) {
        List<String> words = new ArrayList<>(Arrays.asList(line.trim().split("\\s+")));
        words.removeIf(String::isEmpty);
        if (words.isEmpty()) {
            return CompletableFuture.completedFuture(new Result(0, ""));
        }
        String name = words.remove(0);
        if (name.equals("?")) {
            name = "help";
        }
        Remote r = remote;
        if (name.startsWith("@") && name.length() > 1 && r != null) {
            return startRemote(r, name, line, caller);
        }
        return CompletableFuture.completedFuture(runLocal(name, words, line, caller));
    }

    private CompletableFuture<Result> startRemote(Remote r, String name, String line, Caller caller) {
        Result refused = refuse(caller, "@", Access.Level.READ, line);
        if (refused != null) {
            return CompletableFuture.completedFuture(refused);
        }
        String rest = line.trim().substring(name.length()).trim();
        if (rest.isEmpty()) {
            return CompletableFuture.completedFuture(new Result(ERR_USAGE, "usage: " + remoteUsage + "\n"));
        }
        int depth = caller == null ? 1 : caller.depth() + 1;
        if (depth > Delegation.MAX_DEPTH) {
            return CompletableFuture.completedFuture(new Result(ERR_USAGE, name + ": refused: @ nesting deeper than "
                + Delegation.MAX_DEPTH + " ('" + line.trim() + "' would be level " + depth + ")\n"));
        }
        Delegation d = delegationFor(caller, depth);
        try {
            return r.run(caller, d, name.substring(1), rest).exceptionally(ex -> {
                log.warn("shell command '{}' failed", line, ex);
                return new Result(Dmsg.ERR_IO, name + " failed: " + ex + "\n");
            });
        } catch (IllegalArgumentException ex) {
            return CompletableFuture.completedFuture(new Result(ERR_USAGE, name + ": " + ex.getMessage() + "\n"));
        } catch (RuntimeException ex) {
            log.warn("shell command '{}' failed", line, ex);
            return CompletableFuture.completedFuture(new Result(Dmsg.ERR_IO, name + " failed: " + ex + "\n"));
        }
    }

    /** The caller as the command travels on: whom it is for, as this node sees them. */
    private Delegation delegationFor(Caller caller, int depth) {
        if (caller == null || caller.link() == null) {
            return new Delegation(selfName, selfFingerprint, Role.ADMIN, 0, depth);
        }
        Access.Principal p = access.principal(caller.link(), caller.circuit(), caller.delegation());
        return new Delegation(p.name(), p.fingerprint(), p.role(), p.grants(), depth);
    }

    private Result runLocal(String name, List<String> words, String line, Caller caller) {
        Entry e = commands.get(name);
        if (e == null) {
            return new Result(ERR_USAGE, "Unrecognized command: " + name + " (try help)\n");
        }
        Result refused = refuse(caller, name, e.level, line);
        if (refused != null) {
            return refused;
        }
        StringBuilder out = new StringBuilder();
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

    /** The PERM answer when {@code caller}'s principal may not make a request of {@code level}, or null. */
    private Result refuse(Caller caller, String name, Access.Level level, String line) {
        if (caller == null || caller.link() == null) {
            return null;
        }
        Access.Principal p = access.principal(caller.link(), caller.circuit(), caller.delegation());
        if (Access.allows(p, level)) {
            return null;
        }
        caller.link().denied("shell '" + line + "' from " + p.describe());
        String needs = level == Access.Level.CHANGE ? "the admin role (it changes this node)"
            : "the admin or member role, or a client granted shell-ro";
        return new Result(Dmsg.ERR_PERM, name + ": refused: needs " + needs + "; " + p.describe() + " may not\n");
    }

    static String lineOf(Message m) {
        return m.auxBytes() == 0 ? "" : m.auxString();
    }

    /** The caller of a received DBG_SHELL: its link and circuit, and whom it was passed on for. */
    private static Caller callerOf(Link link, Message m) {
        Delegation d = null;
        if (m.auxBytes() > 0) {
            try {
                d = Delegation.fromAux(m.auxCopy());
            } catch (IllegalArgumentException e) {
                log.debug("shell from {}: ignoring a malformed delegation: {}", link.peerLabel(), e.getMessage());
                d = new Delegation("malformed-delegation", "none", Role.NONE, 0, Delegation.MAX_DEPTH);
            }
        }
        return new Caller(link, m.circuit(), d);
    }

    private TransactionHandler accept(Transaction txn, Message create) {
        String line = lineOf(create);
        run(line, callerOf(txn.link(), create), r -> {
            for (String piece : chunks(r.output())) {
                txn.send(Dmsg.DBG_SHELL, null, Unpooled.copiedBuffer(piece + "\0", StandardCharsets.UTF_8));
            }
            txn.reply(r.status());
        });
        return (t, m) -> { }; // one command per transaction; its DELETE needs no answer beyond ours
    }

    private void oneWay(Link link, Message m) {
        if (m.isReply()) {
            return; // output of a shell on the other side: not ours to answer
        }
        String line = lineOf(m);
        run(line, callerOf(link, m), r -> {
            for (String piece : chunks(r.output())) {
                link.sendOneWay(Dmsg.DBG_SHELL | Dmsg.REPLY, null, Unpooled.copiedBuffer(piece + "\0", StandardCharsets.UTF_8));
            }
            link.sendOneWay(Dmsg.LNK_ERROR | Dmsg.REPLY, null, null); // the prompt
        });
    }

    /** Runs a received line for {@code caller} within its per-caller limit; {@code then} gets the result. */
    private void run(String line, Caller caller, Consumer<Result> then) {
        Link link = caller.link();
        if (line.length() > MAX_LINE) {
            then.accept(new Result(ERR_USAGE, "command line of " + line.length() + " characters; max " + MAX_LINE + "\n"));
            return;
        }
        Access.Principal p = access.principal(link, caller.circuit(), caller.delegation());
        // Per caller and per nesting level: an outer @ hop waits for the inner ones, so were they
        // counted together, a caller's own chains could use up its share and refuse themselves.
        String key = (p.fingerprint().equals("none") ? p.name() : p.fingerprint()) + "#" + caller.depth();
        if (!limits.tryAcquire(key)) {
            link.denied("shell '" + line + "' from " + p.describe() + ": " + PER_CALLER + " commands already in progress");
            then.accept(new Result(Dmsg.ERR_LIMIT, "busy: " + p.describe() + " has " + PER_CALLER
                + " shell commands in progress on this node (the limit); try again when one is done\n"));
            return;
        }
        try {
            executor.execute(() -> {
                CompletableFuture<Result> f;
                try {
                    f = executeAsync(line, caller);
                } catch (RuntimeException e) {
                    f = CompletableFuture.completedFuture(new Result(Dmsg.ERR_IO, "failed: " + e + "\n"));
                }
                f.whenComplete((r, ex) -> {
                    limits.release(key);
                    Result result = ex == null ? r : new Result(Dmsg.ERR_IO, "failed: " + ex + "\n");
                    log.debug("shell {}: '{}' -> {}", link.peerLabel(), line, result.status());
                    then.accept(result);
                });
            });
        } catch (RejectedExecutionException e) {
            limits.release(key);
            then.accept(new Result(Dmsg.ERR_IO, BUSY));
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
