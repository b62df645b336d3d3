package dev.dmsg.services.shell;

import dev.dmsg.link.Link;
import dev.dmsg.link.Services;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.Message;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The client side of the 2013 shell framing, for a 2013 C node (docs/LEGACY.md §2, §4):
 * each command goes out as a one-way DBG_SHELL (the line and its NUL, at most
 * {@value #MAX_LINE} characters, as {@code hammer2 shell} read them), its output comes back as
 * one-way DBG_SHELL|REPLY messages and a one-way LNK_ERROR|REPLY ends it (the prompt; a non-zero
 * error is C's "Stream failure"). One-way messages carry no msgid, but the node answers commands
 * in order, one prompt each, so commands wait in a queue: output belongs to the oldest, a prompt
 * ends it. A command whose caller stopped waiting stays queued with its output dropped, so a late
 * answer never lands in the next command's output.
 */
final class OneWayShell {
    /** {@code hammer2 shell} read lines with {@code fgets} into 256 bytes: 255 characters. */
    static final int MAX_LINE = 255;

    /** One command waiting for its prompt. */
    static final class Pending {
        private volatile Consumer<String> output;
        final CompletableFuture<Integer> status = new CompletableFuture<>();

        Pending(Consumer<String> output) {
            this.output = output;
        }

        /** Its caller stopped waiting: output and status go nowhere, the queue position stays. */
        void abandon() {
            output = null;
        }
    }

    private final ArrayDeque<Pending> queue = new ArrayDeque<>();
    private String lost;

    /** Registers the handlers on the client's services: call once, before connecting. */
    void register(Services services) {
        services.oneWay(Dmsg.DBG_SHELL | Dmsg.REPLY, this::output);
        services.oneWay(Dmsg.LNK_ERROR | Dmsg.REPLY, this::prompt);
    }

    /**
     * Sends {@code line} on {@code link}.
     *
     * @throws ShellClient.ShellException for a line the node cannot take, or a lost link
     */
    Pending send(Link link, String line, Consumer<String> output) throws ShellClient.ShellException {
        if (line.length() > MAX_LINE || line.indexOf('\n') >= 0 || line.indexOf('\0') >= 0) {
            throw new ShellClient.ShellException("a 2013 C node reads a command line of at most " + MAX_LINE
                + " characters, without newlines or NULs; this one has " + line.length());
        }
        Pending p = new Pending(output);
        synchronized (this) {
            if (lost != null) {
                throw new ShellClient.ShellException(lost);
            }
            queue.add(p);
            // under the lock: the queue's order is the wire's
            link.sendOneWay(Dmsg.DBG_SHELL, null, Unpooled.copiedBuffer(line + "\0", StandardCharsets.UTF_8));
        }
        return p;
    }

    /** The link is gone: every waiting command fails with {@code reason}. */
    void lost(String reason) {
        synchronized (this) {
            lost = reason;
            for (Pending p : queue) {
                p.status.completeExceptionally(new ShellClient.ShellException(reason));
            }
            queue.clear();
        }
    }

    private void output(Link link, Message m) {
        Consumer<String> out;
        synchronized (this) {
            Pending head = queue.peek();
            out = head == null ? null : head.output;
        }
        if (out != null && m.auxBytes() > 0) {
            out.accept(m.auxString());
        }
    }

    private void prompt(Link link, Message m) {
        Pending head;
        synchronized (this) {
            head = queue.poll();
        }
        if (head != null) {
            head.status.complete(m.error());
        }
    }
}
