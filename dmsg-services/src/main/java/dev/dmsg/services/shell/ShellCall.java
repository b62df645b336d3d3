package dev.dmsg.services.shell;

import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ExtHeader;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * One shell command as a DBG_SHELL transaction, on circuit 0 of a link or on a circuit across the
 * mesh (the same bytes either way): the command line in the aux of DBG_SHELL|CREATE|DELETE, the
 * output in DBG_SHELL replies, the status in the closing LNK_ERROR (see {@link ShellService}).
 */
public final class ShellCall {
    private ShellCall() {}

    /** Where the transaction is opened: {@code Link::open} (circuit 0) or {@code CircuitHandle::open}. */
    @FunctionalInterface
    public interface Opener {
        Transaction open(int cmd, ExtHeader ext, ByteBuf aux, TransactionHandler handler);
    }

    /**
     * Sends {@code line}; {@code output} receives text as it arrives (on the link's event loop).
     * Completes with the command's status (0 = success), or exceptionally with a
     * {@link ShellClient.ShellException} whose message is {@code lost.get()} when the link or
     * circuit under it was lost (the LOSTLINK abort).
     */
    public static Call run(Opener opener, String line, Consumer<String> output, Supplier<String> lost) {
        return run(opener, line, null, output, lost);
    }

    /**
     * Like {@link #run(Opener, String, Consumer, Supplier)}, passed on for a caller: the
     * delegation follows the command line's NUL in the aux (docs/IDENTITY.md §5). Only for our
     * nodes: a 2013 C shell is sent the command line alone.
     */
    public static Call run(Opener opener, String line, Delegation delegation, Consumer<String> output,
                           Supplier<String> lost) {
        CompletableFuture<Integer> done = new CompletableFuture<>();
        String aux = line + "\0" + (delegation == null ? "" : delegation.encode() + "\0");
        Transaction txn = opener.open(Dmsg.DBG_SHELL | Dmsg.DELETE, null, Unpooled.copiedBuffer(aux, StandardCharsets.UTF_8),
            (t, m) -> {
                if (m.baseCmd() == Dmsg.DBG_SHELL && m.auxBytes() > 0) {
                    output.accept(m.auxString());
                }
                if (m.isDelete()) {
                    if (m.error() == Dmsg.ERR_LOSTLINK && m.isAbort()) {
                        done.completeExceptionally(new ShellClient.ShellException(lost.get()));
                    } else {
                        done.complete(m.error());
                    }
                }
            });
        return new Call(txn, done);
    }

    /**
     * A command in flight: its status, and its transaction, which a caller that stops waiting
     * (a timeout, Ctrl-C) aborts so that nothing is left open on the node's link.
     */
    public record Call(Transaction txn, CompletableFuture<Integer> status) {
        /** Stops the command: ABORT|DELETE; the node drops its output. */
        public void abandon() {
            txn.abortClose();
        }
    }
}
