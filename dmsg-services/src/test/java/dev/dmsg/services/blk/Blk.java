package dev.dmsg.services.blk;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.link.Transaction;
import dev.dmsg.link.TransactionHandler;
import dev.dmsg.wire.BlkError;
import dev.dmsg.wire.BlkIo;
import dev.dmsg.wire.BlkOpen;
import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.ExtHeader;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Raw BLK transactions, on circuit 0 of a link or on a circuit ({@code Link::open} or {@code CircuitHandle::open}). */
record Blk(Opener opener) {
    interface Opener {
        Transaction open(int cmd, ExtHeader ext, ByteBuf aux, TransactionHandler handler);
    }

    /** The answer that closed a request (or the first answer to an open). */
    record Reply(int cmd, int error, BlkError blk, byte[] aux) {
        String buf() {
            return blk == null ? "" : blk.buf();
        }
    }

    static Reply reply(Message m) {
        return new Reply(m.cmd(), m.error(), m.ext() instanceof BlkError b ? b : null, m.auxCopy());
    }

    /** A one-message request ({@code cmd|DELETE}); completes with the answer's DELETE. */
    CompletableFuture<Reply> send(int cmd, ExtHeader ext, byte[] aux) {
        CompletableFuture<Reply> f = new CompletableFuture<>();
        opener.open(cmd | Dmsg.DELETE, ext, aux == null ? null : Unpooled.wrappedBuffer(aux), (t, m) -> {
            if (m.isDelete()) {
                f.complete(reply(m));
            }
        });
        return f;
    }

    Reply call(int cmd, ExtHeader ext, byte[] aux) throws Exception {
        return send(cmd, ext, aux).get(10, TimeUnit.SECONDS);
    }

    Reply read(long keyid, long offset, int bytes) throws Exception {
        return call(Dmsg.BLK_READ, new BlkIo(keyid, offset, bytes, 0), null);
    }

    Reply write(long keyid, long offset, int bytes, byte[] aux) throws Exception {
        return call(Dmsg.BLK_WRITE, new BlkIo(keyid, offset, bytes, 0), aux);
    }

    /** BLK_OPEN held open; {@code export} in the aux, or none. */
    Opened open(int modes, String export) throws Exception {
        return openLater(modes, export).get(10, TimeUnit.SECONDS);
    }

    /** BLK_OPEN held open, {@code aux} its text (or none); completes with its first answer. */
    CompletableFuture<Opened> openLater(int modes, String aux) {
        CompletableFuture<Reply> first = new CompletableFuture<>();
        CompletableFuture<Reply> closed = new CompletableFuture<>();
        Transaction txn = opener.open(Dmsg.BLK_OPEN, new BlkOpen(modes),
            aux == null ? null : Unpooled.copiedBuffer(aux + "\0", StandardCharsets.UTF_8), (t, m) -> {
                if (!first.isDone()) {
                    first.complete(reply(m));
                }
                if (m.isDelete()) {
                    closed.complete(reply(m));
                    t.close(); // our side too (after a refusal); nothing if already closed
                }
            });
        return first.thenApply(f -> new Opened(txn, f, closed));
    }

    record Opened(Transaction txn, Blk.Reply first, CompletableFuture<Blk.Reply> closed) {
        long keyid() {
            assertThat(first.error()).as("open refused: %s", first.buf()).isZero();
            return first.blk().keyid();
        }
    }
}
