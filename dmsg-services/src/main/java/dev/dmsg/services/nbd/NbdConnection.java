package dev.dmsg.services.nbd;

import dev.dmsg.services.blk.BlockDevice;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderException;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One NBD client connection (docs/BLK.md "NBD bridge"): its phases, its input, and how it ends.
 * The fixed-newstyle option haggling is {@link NbdHandshake}'s; the transmission phase with many
 * requests in flight is {@link NbdTransmission}'s, which leaves what may be in flight to
 * {@link NbdFlowControl} and the replies to {@link NbdReplies}. They all share this connection's
 * context, phase and input, and act on it through the package-private methods below.
 *
 * <p>Concurrency: every field, here and in those parts, is touched only on the channel's event
 * loop.
 *
 * <p>Input is cumulated here rather than in a {@link ByteToMessageDecoder} so that decoding can
 * pause with whole requests still buffered (backpressure) and resume when replies go out.
 *
 * <p>Memory (docs/BLK.md "Memory"): a READ or WRITE takes its payload bytes from the server's
 * {@link MemoryBudget} when its header is decoded and gives them back when its reply is on the
 * socket ({@link NbdFlowControl}). When they are not there the connection stops reading (its
 * input stays in the kernel) until they are granted.
 */
final class NbdConnection extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(NbdConnection.class);

    static final String NAME = "nbd";

    enum Phase {
        /** Handshake sent; waiting for the client's 32-bit flags. */
        CLIENT_FLAGS,
        /** Option haggling. */
        OPTIONS,
        /** Requests and replies. */
        TRANSMISSION,
        /** No more requests read (NBD_CMD_DISC, or the server is closing); closes when the last reply is written. */
        DRAINING,
        CLOSED
    }

    final NbdConfig config;
    final NbdPeer peer;
    /** How log lines name the client: its address and port, and after TLS its trusted name. */
    String client;

    ChannelHandlerContext ctx;
    private ByteBuf cumulation;
    Phase phase = Phase.CLIENT_FLAGS;
    String closeReason = "the client closed the connection";
    private ScheduledFuture<?> handshakeTimer;
    private ScheduledFuture<?> stallTimer;
    private String exportName;

    private final NbdHandshake handshake;
    private final NbdTransmission transmission;
    private final NbdFlowControl flow;

    /** Set while autoRead is off because a limit was reached. */
    private boolean paused;
    /** Guards {@link #process} against re-entry from a write listener. */
    private boolean processing;

    NbdConnection(NbdConfig config, NbdPeer peer) {
        this.config = config;
        this.peer = peer;
        this.client = peer.text();
        this.handshake = new NbdHandshake(this);
        this.transmission = new NbdTransmission(this);
        this.flow = transmission.flow;
    }

    // ------------------------------------------------------------------ lifecycle

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        handshake.hello(ctx);
        long timeoutNanos = config.handshakeTimeout.toNanos();
        handshakeTimer = ctx.executor().schedule(() -> {
            if (phase == Phase.CLIENT_FLAGS || phase == Phase.OPTIONS) {
                config.stats.handshakeTimeouts.increment();
                hardDisconnect("no export chosen within " + config.handshakeTimeout.toMillis() + " ms"
                    + (handshake.tlsMissing() ? " (TLS is required: no NBD_OPT_STARTTLS)" : ""));
            }
        }, timeoutNanos, TimeUnit.NANOSECONDS);
        log.debug("nbd client {}: connected", client);
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        transition(Phase.CLOSED, closeReason);
        releaseCumulation();
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        if (stallTimer != null) {
            stallTimer.cancel(false);
        }
        if (exportName == null) {
            // never chose an export: its refusal (if any) was logged, rate-limited; nothing more to say
            log.debug("nbd client {}: closed ({}) before choosing an export", client, closeReason);
        } else {
            String more = config.sessionLog.admit();
            if (more != null) {
                long errors = transmission.errors();
                long logged = NbdTransmission.LOGGED_ERRORS;
                log.info("nbd client {}: closed ({}), export {}: {} requests, {} error replies{}{}", client,
                    closeReason, exportName, transmission.requests(), errors,
                    errors > logged ? " (" + (errors - logged) + " not logged)" : "", more);
            }
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releaseCumulation();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof DecoderException && cause.getCause() instanceof SSLException
                || cause instanceof SSLException) {
            // a TLS failure: the handshake listener logs and counts it; after the handshake, a broken record
            log.debug("nbd client {}: TLS: {}", client, cause.toString());
            closeReason = "TLS: " + cause.getMessage();
        } else if (cause instanceof IOException) {
            log.debug("nbd client {}: {}", client, cause.toString());
            closeReason = "connection error: " + cause.getMessage();
        } else {
            log.warn("nbd client {}: unexpected error; closing", client, cause);
            closeReason = "internal error: " + cause;
        }
        transition(Phase.CLOSED, closeReason);
        ctx.close();
    }

    /** The server is closing: handshakes end now; transmission answers what it has read, then closes. */
    void shutdown(String why) {
        switch (phase) {
            case CLIENT_FLAGS, OPTIONS -> {
                log.info("nbd client {}: {}; closing the connection before it chose an export", client, why);
                closeNow(why);
            }
            case TRANSMISSION -> startDraining(why);
            case DRAINING, CLOSED -> { }
        }
    }

    /**
     * The one place the phase changes. Allowed: CLIENT_FLAGS → OPTIONS → TRANSMISSION → DRAINING →
     * CLOSED, and any phase → CLOSED.
     */
    void transition(Phase to, String reason) {
        Phase from = phase;
        if (from == to) {
            return;
        }
        boolean ok = switch (to) {
            case CLIENT_FLAGS -> false;
            case OPTIONS -> from == Phase.CLIENT_FLAGS;
            case TRANSMISSION -> from == Phase.OPTIONS;
            case DRAINING -> from == Phase.TRANSMISSION;
            case CLOSED -> true;
        };
        if (!ok) {
            throw new IllegalStateException("nbd client " + client + ": " + from + " -> " + to + " (" + reason + ")");
        }
        phase = to;
        log.debug("nbd client {}: {} -> {} ({})", client, from, to, reason);
    }

    /** Closes now, dropping the input: no log line of its own. */
    void closeNow(String why) {
        closeReason = why;
        transition(Phase.CLOSED, why);
        releaseCumulation();
        ctx.close();
    }

    /** Closes at once (a malformed message, a refused export, a handshake timeout), with a log line. */
    void hardDisconnect(String why) {
        if (phase == Phase.CLOSED) {
            return;
        }
        String more = config.misbehaviourLog.admit();
        if (more != null) {
            log.warn("nbd client {}: {}; closing the connection{}", client, why, more);
        }
        closeNow(why);
    }

    /** Malformed input or a protocol violation: counted, then as {@link #hardDisconnect}. */
    void malformed(String why) {
        config.stats.malformed.increment();
        hardDisconnect(why);
    }

    void startDraining(String why) {
        closeReason = why;
        transition(Phase.DRAINING, why);
        releaseCumulation(); // nothing after NBD_CMD_DISC is read (proto.md: the client sends nothing more)
        ctx.channel().config().setAutoRead(false);
        if (flow.inFlight() == 0) {
            closeAfterFlush();
        }
    }

    void closeAfterFlush() {
        transition(Phase.CLOSED, closeReason);
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }

    /** The handshake chose export {@code name}: requests from now on. */
    void enterTransmission(String name, BlockDevice d, boolean readOnly, String how) {
        transmission.export(name, d, readOnly);
        exportName = name;
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        transition(Phase.TRANSMISSION, how);
        if (!config.stallTimeout.isZero()) {
            long every = Math.max(config.stallTimeout.toNanos() / 4, TimeUnit.MILLISECONDS.toNanos(10));
            stallTimer = ctx.executor().scheduleWithFixedDelay(this::checkStall, every, every, TimeUnit.NANOSECONDS);
        }
        log.info("nbd client {}: export {} ({} bytes, {}) via {}", client, name, d.sizeBytes(),
            readOnly ? "read-only" : "read-write", how);
    }

    /** The stall check ({@link NbdReplies#checkStall}) while replies can be waiting. Event loop. */
    void checkStall() {
        if (phase != Phase.TRANSMISSION && phase != Phase.DRAINING) {
            return;
        }
        transmission.replies.checkStall();
    }

    // ------------------------------------------------------------------ input

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf in)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (phase == Phase.DRAINING || phase == Phase.CLOSED) {
            in.release();
            return;
        }
        // Composed, not merged: a WRITE's payload goes to the device as a slice, so the merging
        // cumulator had to copy every later read (and the payloads still in it) into a new buffer
        // — 5 % of the bridge's CPU at 64 KiB writes (docs/BENCHMARKS.md, "Block devices").
        cumulation = ByteToMessageDecoder.COMPOSITE_CUMULATOR.cumulate(ctx.alloc(),
            cumulation == null ? Unpooled.EMPTY_BUFFER : cumulation, in);
        process();
    }

    /** Decodes and acts on whatever whole messages are buffered, as far as the limits allow. */
    void process() {
        if (processing) {
            return;
        }
        processing = true;
        try {
            while (cumulation != null && cumulation.isReadable()) {
                boolean progressed = switch (phase) {
                    case CLIENT_FLAGS -> handshake.decodeClientFlags(cumulation);
                    case OPTIONS -> handshake.decodeOption(cumulation);
                    case TRANSMISSION -> transmission.decodeRequest(cumulation);
                    case DRAINING, CLOSED -> false;
                };
                if (!progressed) {
                    break;
                }
            }
        } finally {
            processing = false;
        }
        if (cumulation != null) {
            if (!cumulation.isReadable()) {
                releaseCumulation();
            } else if (cumulation.refCnt() == 1) {
                cumulation.discardSomeReadBytes(); // never under a slice still held by a device write
            }
        }
        if (phase == Phase.TRANSMISSION && flow.blocked() && !paused) {
            paused = true;
            ctx.channel().config().setAutoRead(false);
        }
    }

    /** Drops buffered input, and with it the budget held or awaited for the request at its head. */
    private void releaseCumulation() {
        if (cumulation != null) {
            cumulation.release();
            cumulation = null;
        }
        flow.releaseHead();
    }

    /** Decodes what is buffered, then reads the socket again if nothing blocks it any more. */
    void resume() {
        if (phase != Phase.TRANSMISSION || !paused) {
            return;
        }
        process(); // requests already buffered first
        if (phase == Phase.TRANSMISSION && !flow.blocked()) {
            paused = false;
            ctx.channel().config().setAutoRead(true);
        }
    }
}
