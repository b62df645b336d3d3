package dev.dmsg.services.nbd;

import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Refusal;
import dev.dmsg.services.blk.BlockDevice;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One NBD client connection: the fixed-newstyle option haggling, then the transmission phase
 * with many requests in flight (proto.md "Transmission": replies may go out in any order, matched
 * by cookie).
 *
 * <p>Concurrency: every field is touched only on the channel's event loop. Device calls are made
 * from it and return at once; their completions come back to it through {@link #deliver}. A
 * request counts as in flight from the moment its header is decoded until its reply has been
 * written to the socket, so a client that stops reading replies is also held back.
 *
 * <p>Input is cumulated here rather than in a {@link ByteToMessageDecoder} so that decoding can
 * pause with whole requests still buffered (backpressure) and resume when replies go out.
 *
 * <p>Memory (docs/BLK.md "Memory"): a READ or WRITE takes its payload bytes from the server's
 * {@link MemoryBudget} when its header is decoded — before a WRITE's payload is read, before a
 * READ's buffer exists — and gives them back when its reply is on the socket. When they are not
 * there the connection stops reading (its input stays in the kernel) until they are granted.
 *
 * <p>TLS (docs/BLK.md "TLS"): NBD_OPT_STARTTLS is answered in plaintext, then an
 * {@link SslHandler} goes first in the pipeline and everything after is inside TLS. With TLS
 * required, every other option but NBD_OPT_ABORT is refused (NBD_REP_ERR_TLS_REQD) until then.
 */
final class NbdConnection extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(NbdConnection.class);

    /** Option data longer than this closes the connection: the longest legal option (GO with a 4096-byte name) is far shorter. */
    static final int MAX_OPTION_BYTES = 65536;
    /** Options per connection before we decide the client is looping and disconnect it. */
    static final int MAX_OPTIONS = 256;
    /** Error replies logged one by one per connection; the rest are counted in the closing line. */
    static final int LOGGED_ERRORS = 20;
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

    private final NbdServer.Config config;
    private final NbdServer.Client peer;
    /** How log lines name the client: its address and port, and after TLS its trusted name. */
    private String client;

    private ChannelHandlerContext ctx;
    private ByteBuf cumulation;
    private Phase phase = Phase.CLIENT_FLAGS;
    private String closeReason = "the client closed the connection";
    private ScheduledFuture<?> handshakeTimer;
    private boolean clientNoZeroes;
    private int options;

    private BlockDevice device;
    private String exportName;
    private long sizeBytes;
    private boolean readOnly;

    /** TLS is running on this connection (after NBD_OPT_STARTTLS). */
    private boolean tlsActive;
    /** The trusted client of the TLS session; what it may do. */
    private PeerIdentity tlsPeer;
    private NbdTls.Access access = NbdTls.Access.READ_WRITE;
    private boolean tlsRequiredCounted;

    private int inFlight;
    private long inFlightBytes;
    /** Budget granted to the request whose header is at the head of the input, not yet started. */
    private long headReservedBytes;
    /** Set while the request at the head does not fit this connection's bounds: waits for its own replies. */
    private boolean waitingForReplies;
    /** Set while the request at the head waits for budget. */
    private MemoryBudget.Waiter budgetWaiter;
    /** Replies handed to the socket and not yet written, and since when none was. */
    private int unwrittenReplies;
    private long lastWriteNanos;
    private long lastPendingBytes;
    private ScheduledFuture<?> stallTimer;
    /** Set while autoRead is off because a limit was reached. */
    private boolean paused;
    /** Guards {@link #process} against re-entry from a write listener. */
    private boolean processing;
    private boolean flushScheduled;

    private long requests;
    private long errors;

    NbdConnection(NbdServer.Config config, NbdServer.Client peer) {
        this.config = config;
        this.peer = peer;
        this.client = peer.text();
    }

    // ------------------------------------------------------------------ lifecycle

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ByteBuf hello = ctx.alloc().buffer(Nbd.HANDSHAKE_BYTES)
            .writeLong(Nbd.NBDMAGIC)
            .writeLong(Nbd.IHAVEOPT)
            .writeShort(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES);
        ctx.writeAndFlush(hello);
        long timeoutNanos = config.handshakeTimeout.toNanos();
        handshakeTimer = ctx.executor().schedule(() -> {
            if (phase == Phase.CLIENT_FLAGS || phase == Phase.OPTIONS) {
                config.stats.handshakeTimeouts.increment();
                hardDisconnect("no export chosen within " + config.handshakeTimeout.toMillis() + " ms"
                    + (config.tls != null && !tlsActive ? " (TLS is required: no NBD_OPT_STARTTLS)" : ""));
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
                log.info("nbd client {}: closed ({}), export {}: {} requests, {} error replies{}{}", client,
                    closeReason, exportName, requests, errors,
                    errors > LOGGED_ERRORS ? " (" + (errors - LOGGED_ERRORS) + " not logged)" : "", more);
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
                closeReason = why;
                transition(Phase.CLOSED, why);
                releaseCumulation();
                ctx.close();
            }
            case TRANSMISSION -> startDraining(why);
            case DRAINING, CLOSED -> { }
        }
    }

    /**
     * The one place the phase changes. Allowed: CLIENT_FLAGS → OPTIONS → TRANSMISSION → DRAINING →
     * CLOSED, and any phase → CLOSED.
     */
    private void transition(Phase to, String reason) {
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

    /** Closes at once (a malformed message, a refused export, a handshake timeout), with a log line. */
    private void hardDisconnect(String why) {
        if (phase == Phase.CLOSED) {
            return;
        }
        String more = config.misbehaviourLog.admit();
        if (more != null) {
            log.warn("nbd client {}: {}; closing the connection{}", client, why, more);
        }
        closeReason = why;
        transition(Phase.CLOSED, why);
        releaseCumulation();
        ctx.close();
    }

    /** Malformed input or a protocol violation: counted, then as {@link #hardDisconnect}. */
    private void malformed(String why) {
        config.stats.malformed.increment();
        hardDisconnect(why);
    }

    private void startDraining(String why) {
        closeReason = why;
        transition(Phase.DRAINING, why);
        releaseCumulation(); // nothing after NBD_CMD_DISC is read (proto.md: the client sends nothing more)
        ctx.channel().config().setAutoRead(false);
        if (inFlight == 0) {
            closeAfterFlush();
        }
    }

    private void closeAfterFlush() {
        transition(Phase.CLOSED, closeReason);
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
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
    private void process() {
        if (processing) {
            return;
        }
        processing = true;
        try {
            while (cumulation != null && cumulation.isReadable()) {
                boolean progressed = switch (phase) {
                    case CLIENT_FLAGS -> decodeClientFlags();
                    case OPTIONS -> !tlsUpgrading() && decodeOption();
                    case TRANSMISSION -> decodeRequest();
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
        if (phase == Phase.TRANSMISSION && blocked() && !paused) {
            paused = true;
            ctx.channel().config().setAutoRead(false);
        }
    }

    /** The next request cannot be read now: too many in flight, or the one at the head waits for budget. */
    private boolean blocked() {
        return waitingForReplies || budgetWaiter != null || inFlight >= config.maxInFlight;
    }

    /** Whether this connection may start a request that holds {@code costBytes} more (one request alone always may). */
    private boolean admits(long costBytes) {
        return inFlight == 0 || (inFlight < config.maxInFlight && inFlightBytes + costBytes <= config.maxInFlightBytes);
    }

    /** Drops buffered input, and with it the budget held or awaited for the request at its head. */
    private void releaseCumulation() {
        if (cumulation != null) {
            cumulation.release();
            cumulation = null;
        }
        if (budgetWaiter != null) {
            config.budget.cancel(budgetWaiter); // if it was granted meanwhile, onBudget gives it back
            budgetWaiter = null;
        }
        if (headReservedBytes > 0) {
            config.budget.release(peer.key(), headReservedBytes);
            headReservedBytes = 0;
        }
    }

    /** Budget granted to a waiting request, on whichever thread released it. */
    private void budgetGranted(MemoryBudget.Waiter w) {
        try {
            ctx.executor().execute(() -> onBudget(w));
        } catch (RejectedExecutionException e) {
            config.budget.release(peer.key(), w.bytes); // the loop is gone, and the connection with it
        }
    }

    private void onBudget(MemoryBudget.Waiter w) {
        if (budgetWaiter != w) {
            config.budget.release(peer.key(), w.bytes); // withdrawn meanwhile (the connection closed)
            return;
        }
        budgetWaiter = null;
        headReservedBytes = w.bytes;
        resume();
    }

    /** Decodes what is buffered, then reads the socket again if nothing blocks it any more. */
    private void resume() {
        if (phase != Phase.TRANSMISSION || !paused) {
            return;
        }
        process(); // requests already buffered first
        if (phase == Phase.TRANSMISSION && !blocked()) {
            paused = false;
            ctx.channel().config().setAutoRead(true);
        }
    }

    // ------------------------------------------------------------------ handshake

    private boolean decodeClientFlags() {
        if (cumulation.readableBytes() < 4) {
            return false;
        }
        int flags = cumulation.readInt();
        int known = Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES;
        if ((flags & ~known) != 0) {
            // proto.md "Client flags": the server MUST drop the connection on an unknown flag
            malformed(String.format("client flags 0x%08x have unknown bits 0x%08x", flags, flags & ~known));
            return false;
        }
        clientNoZeroes = (flags & Nbd.FLAG_C_NO_ZEROES) != 0;
        if ((flags & Nbd.FLAG_C_FIXED_NEWSTYLE) == 0) {
            log.debug("nbd client {}: did not set NBD_FLAG_C_FIXED_NEWSTYLE; answering options anyway", client);
        }
        transition(Phase.OPTIONS, "client flags 0x" + Integer.toHexString(flags));
        return true;
    }

    private boolean decodeOption() {
        if (cumulation.readableBytes() < Nbd.OPTION_HEADER_BYTES) {
            return false;
        }
        int at = cumulation.readerIndex();
        long magic = cumulation.getLong(at);
        if (magic != Nbd.IHAVEOPT) {
            malformed(String.format("option magic 0x%016x, expected IHAVEOPT 0x%016x", magic, Nbd.IHAVEOPT));
            return false;
        }
        int option = cumulation.getInt(at + 8);
        long length = cumulation.getUnsignedInt(at + 12);
        if (length > MAX_OPTION_BYTES) {
            malformed(Nbd.optionName(option) + " with " + length + " bytes of data > max " + MAX_OPTION_BYTES);
            return false;
        }
        if (cumulation.readableBytes() < Nbd.OPTION_HEADER_BYTES + length) {
            return false;
        }
        if (++options > MAX_OPTIONS) {
            malformed("more than " + MAX_OPTIONS + " options without choosing an export");
            return false;
        }
        cumulation.skipBytes(Nbd.OPTION_HEADER_BYTES);
        ByteBuf data = cumulation.readSlice((int) length);
        handleOption(option, data);
        return true;
    }

    private void handleOption(int option, ByteBuf data) {
        if (config.tls != null && !tlsActive && option != Nbd.OPT_STARTTLS && option != Nbd.OPT_ABORT) {
            refuseUntilTls(option);
            return;
        }
        switch (option) {
            case Nbd.OPT_EXPORT_NAME -> optExportName(data);
            case Nbd.OPT_ABORT -> {
                // proto.md: the server MUST reply ACK; the client then closes (we close too)
                closeReason = "the client sent NBD_OPT_ABORT";
                ctx.write(optionReply(option, Nbd.REP_ACK, 0));
                closeAfterFlush();
            }
            case Nbd.OPT_LIST -> optList(data);
            case Nbd.OPT_INFO, Nbd.OPT_GO -> optInfoOrGo(option, data);
            case Nbd.OPT_STRUCTURED_REPLY -> optionError(option, Nbd.REP_ERR_UNSUP,
                "structured replies are not supported: simple replies only");
            case Nbd.OPT_STARTTLS -> optStartTls(data);
            case Nbd.OPT_LIST_META_CONTEXT, Nbd.OPT_SET_META_CONTEXT -> optionError(option, Nbd.REP_ERR_UNSUP,
                "metadata contexts (block status) are not supported");
            default -> optionError(option, Nbd.REP_ERR_UNSUP, Nbd.optionName(option) + " is not supported");
        }
    }

    /**
     * TLS is required and the client asks for something else first (proto.md "Server-side
     * requirements" for FORCEDTLS): NBD_REP_ERR_TLS_REQD, or, for NBD_OPT_EXPORT_NAME which cannot
     * carry an error, a disconnect. Counted and logged once per connection.
     */
    private void refuseUntilTls(int option) {
        if (!tlsRequiredCounted) {
            tlsRequiredCounted = true;
            config.stats.tlsRequiredRefusals.increment();
            String more = config.misbehaviourLog.admit();
            if (more != null) {
                log.warn("nbd client {}: {} before NBD_OPT_STARTTLS: refused, TLS is required{}", client,
                    Nbd.optionName(option), more);
            }
        }
        if (option == Nbd.OPT_EXPORT_NAME) {
            hardDisconnect("NBD_OPT_EXPORT_NAME without TLS: TLS is required");
            return;
        }
        optionError(option, Nbd.REP_ERR_TLS_REQD, "TLS is required: send NBD_OPT_STARTTLS first (an nbds:// URI)");
    }

    /** NBD_OPT_STARTTLS: ACK in plaintext, then TLS first in the pipeline (proto.md "TLS support"). */
    private void optStartTls(ByteBuf data) {
        if (config.tls == null) {
            optionError(Nbd.OPT_STARTTLS, Nbd.REP_ERR_UNSUP, "TLS is not enabled on this server");
            return;
        }
        if (tlsActive) {
            optionError(Nbd.OPT_STARTTLS, Nbd.REP_ERR_INVALID, "TLS is already running");
            return;
        }
        if (data.isReadable()) {
            optionError(Nbd.OPT_STARTTLS, Nbd.REP_ERR_INVALID, "NBD_OPT_STARTTLS takes no data");
            return;
        }
        if (cumulation.isReadable()) {
            // proto.md: the client waits for the reply; anything before it would be read as TLS
            malformed("sent " + cumulation.readableBytes() + " bytes after NBD_OPT_STARTTLS before its reply");
            return;
        }
        ctx.writeAndFlush(optionReply(Nbd.OPT_STARTTLS, Nbd.REP_ACK, 0)); // passes no SslHandler: plaintext
        SslHandler ssl = config.tls.newHandler(ctx.alloc(), peer.host(), peer.port());
        ctx.pipeline().addFirst("tls", ssl);
        tlsActive = true;
        ssl.handshakeFuture().addListener(f -> tlsHandshakeDone(f.isSuccess() ? null : f.cause(), ssl));
    }

    /** Options wait while the TLS handshake runs. */
    private boolean tlsUpgrading() {
        return tlsActive && tlsPeer == null;
    }

    private void tlsHandshakeDone(Throwable failure, SslHandler ssl) {
        if (phase == Phase.CLOSED) {
            return;
        }
        String refused = null;
        if (failure != null) {
            refused = config.tls.describeFailure(failure);
        } else {
            try {
                tlsPeer = config.tls.identify(ssl.engine().getSession(), client);
                access = NbdTls.access(tlsPeer);
                if (access == NbdTls.Access.NONE) {
                    refused = "refused: '" + tlsPeer.name() + "' is trusted as a client without blk-read or blk-rw";
                    tlsPeer = null;
                }
            } catch (Refusal r) {
                refused = config.tls.describeFailure(r);
            }
        }
        if (refused != null) {
            config.stats.tlsHandshakeFailures.increment();
            String more = config.misbehaviourLog.admit();
            if (more != null) {
                log.warn("nbd client {}: TLS: {}; closing the connection{}", client, refused, more);
            }
            closeReason = refused;
            transition(Phase.CLOSED, refused);
            releaseCumulation();
            ctx.close();
            return;
        }
        config.stats.tlsSessions.increment();
        client = peer.text() + " ('" + tlsPeer.name() + "')";
        log.debug("nbd client {}: TLS {} {}, {}", client, ssl.engine().getSession().getProtocol(),
            ssl.engine().getSession().getCipherSuite(), access);
        process(); // options that arrived with the handshake's last flight
    }

    private void optExportName(ByteBuf data) {
        if (data.readableBytes() > Nbd.MAX_NAME_BYTES) {
            malformed("NBD_OPT_EXPORT_NAME with a " + data.readableBytes() + "-byte name > max " + Nbd.MAX_NAME_BYTES);
            return;
        }
        String name = data.toString(StandardCharsets.UTF_8);
        BlockDevice d = lookup(name);
        if (d == null) {
            // proto.md: EXPORT_NAME cannot carry an error; the server MUST terminate the session
            malformed("NBD_OPT_EXPORT_NAME: no export named '" + name + "'");
            return;
        }
        int flags = transmissionFlags(d);
        ByteBuf reply = ctx.alloc().buffer(10 + Nbd.EXPORT_NAME_PAD_BYTES)
            .writeLong(d.sizeBytes())
            .writeShort(flags);
        if (!clientNoZeroes) {
            reply.writeZero(Nbd.EXPORT_NAME_PAD_BYTES);
        }
        ctx.writeAndFlush(reply);
        enterTransmission(name, d, "NBD_OPT_EXPORT_NAME");
    }

    private void optList(ByteBuf data) {
        if (data.isReadable()) {
            optionError(Nbd.OPT_LIST, Nbd.REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
            return;
        }
        Collection<String> names;
        try {
            names = config.exports.names().get();
        } catch (RuntimeException e) {
            log.warn("nbd client {}: NBD_OPT_LIST: listing the exports failed", client, e);
            optionError(Nbd.OPT_LIST, Nbd.REP_ERR_INVALID, "listing the exports failed");
            return;
        }
        for (String name : names) {
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            ByteBuf r = optionReply(Nbd.OPT_LIST, Nbd.REP_SERVER, 4 + n.length);
            r.writeInt(n.length).writeBytes(n);
            ctx.write(r);
        }
        ctx.writeAndFlush(optionReply(Nbd.OPT_LIST, Nbd.REP_ACK, 0));
    }

    /** NBD_OPT_INFO and NBD_OPT_GO share their format; GO then enters transmission. */
    private void optInfoOrGo(int option, ByteBuf data) {
        int length = data.readableBytes();
        if (length < 6) {
            optionError(option, Nbd.REP_ERR_INVALID, Nbd.optionName(option) + " data of " + length + " bytes < 6");
            return;
        }
        long nameLength = data.readUnsignedInt();
        if (nameLength > length - 6 || nameLength > Nbd.MAX_NAME_BYTES) {
            optionError(option, Nbd.REP_ERR_INVALID, "name length " + nameLength + " does not fit the option's "
                + length + " bytes");
            return;
        }
        String name = data.readCharSequence((int) nameLength, StandardCharsets.UTF_8).toString();
        int requests = data.readUnsignedShort();
        if (data.readableBytes() != 2 * requests) {
            optionError(option, Nbd.REP_ERR_INVALID, requests + " information requests but "
                + data.readableBytes() + " bytes left for them");
            return;
        }
        boolean wantName = false;
        for (int i = 0; i < requests; i++) {
            int info = data.readUnsignedShort();
            wantName |= info == Nbd.INFO_NAME; // others: EXPORT and BLOCK_SIZE are always sent, the rest ignored
        }
        BlockDevice d = lookup(name);
        if (d == null) {
            optionError(option, Nbd.REP_ERR_UNKNOWN, "no export named '" + name + "'");
            return;
        }
        ByteBuf export = optionReply(option, Nbd.REP_INFO, 12);
        export.writeShort(Nbd.INFO_EXPORT).writeLong(d.sizeBytes()).writeShort(transmissionFlags(d));
        ctx.write(export);
        // Always sent (the spec lets us; a client that did not ask ignores it): minimum 1 (the
        // device takes any byte range), preferred its block size, maximum our payload limit.
        ByteBuf sizes = optionReply(option, Nbd.REP_INFO, 14);
        sizes.writeShort(Nbd.INFO_BLOCK_SIZE).writeInt(1).writeInt(preferredBlockSize(d)).writeInt(config.maxPayloadBytes);
        ctx.write(sizes);
        if (wantName) {
            String canonical = name.isEmpty() ? config.exports.defaultName() : name;
            byte[] n = canonical.getBytes(StandardCharsets.UTF_8);
            ByteBuf r = optionReply(option, Nbd.REP_INFO, 2 + n.length);
            r.writeShort(Nbd.INFO_NAME).writeBytes(n);
            ctx.write(r);
        }
        ctx.writeAndFlush(optionReply(option, Nbd.REP_ACK, 0));
        if (option == Nbd.OPT_GO) {
            enterTransmission(name.isEmpty() ? config.exports.defaultName() : name, d, "NBD_OPT_GO");
        }
    }

    private BlockDevice lookup(String name) {
        try {
            return config.exports.find(name);
        } catch (RuntimeException e) {
            log.warn("nbd client {}: looking up export '{}' failed", client, name, e);
            return null;
        }
    }

    /** The device is read-only, or this TLS client may only read. */
    private boolean readOnlyFor(BlockDevice d) {
        return d.readOnly() || access == NbdTls.Access.READ_ONLY;
    }

    private int transmissionFlags(BlockDevice d) {
        int flags = Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_SEND_FLUSH;
        if (readOnlyFor(d)) {
            flags |= Nbd.FLAG_READ_ONLY;
        } else {
            flags |= Nbd.FLAG_SEND_FUA | Nbd.FLAG_SEND_TRIM | Nbd.FLAG_SEND_WRITE_ZEROES;
        }
        if (config.multiConn) {
            flags |= Nbd.FLAG_CAN_MULTI_CONN;
        }
        return flags;
    }

    private int preferredBlockSize(BlockDevice d) {
        int b = d.blockSize();
        boolean sane = b >= 512 && Integer.bitCount(b) == 1 && b <= config.maxPayloadBytes;
        return sane ? b : 4096;
    }

    private void enterTransmission(String name, BlockDevice d, String how) {
        device = d;
        exportName = name;
        sizeBytes = d.sizeBytes();
        readOnly = readOnlyFor(d);
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        transition(Phase.TRANSMISSION, how);
        if (!config.stallTimeout.isZero()) {
            long every = Math.max(config.stallTimeout.toNanos() / 4, TimeUnit.MILLISECONDS.toNanos(10));
            stallTimer = ctx.executor().scheduleWithFixedDelay(this::checkStall, every, every, TimeUnit.NANOSECONDS);
        }
        log.info("nbd client {}: export {} ({} bytes, {}) via {}", client, name, sizeBytes,
            readOnly ? "read-only" : "read-write", how);
    }

    private ByteBuf optionReply(int option, int type, int dataBytes) {
        return ctx.alloc().buffer(20 + dataBytes)
            .writeLong(Nbd.REPLY_MAGIC)
            .writeInt(option)
            .writeInt(type)
            .writeInt(dataBytes);
    }

    private void optionError(int option, int type, String message) {
        log.debug("nbd client {}: {} refused: {}", client, Nbd.optionName(option), message);
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        ByteBuf r = optionReply(option, type, m.length);
        r.writeBytes(m);
        ctx.writeAndFlush(r);
    }

    // ------------------------------------------------------------------ transmission

    /** One request between decoding and its reply. {@code costBytes}: payload held for it (READ/WRITE length). */
    private record Request(int type, int flags, long cookie, long offset, long length, long costBytes) {
        String describe() {
            return Nbd.commandName(type) + " offset=" + Long.toUnsignedString(offset) + " length=" + length
                + (flags == 0 ? "" : " flags=0x" + Integer.toHexString(flags));
        }
    }

    private boolean decodeRequest() {
        if (cumulation.readableBytes() < Nbd.REQUEST_HEADER_BYTES) {
            return false;
        }
        int at = cumulation.readerIndex();
        int magic = cumulation.getInt(at);
        if (magic != Nbd.REQUEST_MAGIC) {
            malformed(String.format("request magic 0x%08x, expected 0x%08x", magic, Nbd.REQUEST_MAGIC));
            return false;
        }
        int flags = cumulation.getUnsignedShort(at + 4);
        int type = cumulation.getUnsignedShort(at + 6);
        long cookie = cumulation.getLong(at + 8);
        long offset = cumulation.getLong(at + 16);
        long length = cumulation.getUnsignedInt(at + 24);
        boolean payloadCommand = type == Nbd.CMD_READ || type == Nbd.CMD_WRITE;
        if (payloadCommand && length > config.maxPayloadBytes) {
            malformed(Nbd.commandName(type) + " offset=" + Long.toUnsignedString(offset) + " length=" + length
                + " > max payload " + config.maxPayloadBytes);
            return false;
        }
        long cost = payloadCommand ? length : 0;
        if (headReservedBytes == 0) {
            if (!admits(cost)) {
                waitingForReplies = true; // this connection's own bound: its replies must go out first
                return false;
            }
            if (cost > 0) {
                // before a WRITE's payload is read or a READ's buffer exists (docs/BLK.md "Memory")
                MemoryBudget.Waiter w = config.budget.acquire(peer.key(), cost, this::budgetGranted);
                if (w != null) {
                    budgetWaiter = w;
                    return false;
                }
                headReservedBytes = cost;
            }
        }
        if (type == Nbd.CMD_WRITE && cumulation.readableBytes() < Nbd.REQUEST_HEADER_BYTES + length) {
            return false; // the payload is still coming; its budget is held
        }
        cumulation.skipBytes(Nbd.REQUEST_HEADER_BYTES);
        // Handed to the device as a slice of what we read: no copy (the cumulator copies instead
        // of growing a buffer a slice still points into).
        ByteBuf payload = type == Nbd.CMD_WRITE ? cumulation.readRetainedSlice((int) length) : null;
        if (type == Nbd.CMD_DISC) {
            startDraining("the client sent NBD_CMD_DISC");
            return false;
        }
        requests++;
        Request r = new Request(type, flags, cookie, offset, length, cost);
        headReservedBytes = 0; // the request holds it now, until done()
        inFlight++;
        inFlightBytes += r.costBytes;
        start(r, payload);
        return true;
    }

    /** Checks the request, then hands it to the device; never waits. Owns {@code payload}. */
    private void start(Request r, ByteBuf payload) {
        int error = check(r);
        if (error != 0) {
            ReferenceCountUtil.release(payload);
            reply(r, error, null, null);
            return;
        }
        boolean fua = (r.flags & Nbd.CMD_FLAG_FUA) != 0;
        if (r.length == 0 && r.type != Nbd.CMD_FLUSH) {
            // proto.md: behaviour unspecified, SHOULD NOT disconnect; nothing to do
            ReferenceCountUtil.release(payload);
            reply(r, 0, r.type == Nbd.CMD_READ ? Unpooled.EMPTY_BUFFER : null, null);
            return;
        }
        CompletableFuture<?> f;
        try {
            f = switch (r.type) {
                case Nbd.CMD_READ -> device.read(r.offset, (int) r.length);
                case Nbd.CMD_WRITE -> {
                    ByteBuf p = payload;
                    payload = null; // the device owns it now, even if it throws
                    yield device.write(r.offset, p, fua);
                }
                case Nbd.CMD_FLUSH -> readOnly ? CompletableFuture.completedFuture(null) : device.flush();
                case Nbd.CMD_TRIM -> fua ? device.trim(r.offset, r.length).thenCompose(v -> device.flush())
                    : device.trim(r.offset, r.length);
                case Nbd.CMD_WRITE_ZEROES -> device.writeZeroes(r.offset, r.length, fua);
                default -> throw new IllegalStateException("check() let " + Nbd.commandName(r.type) + " through");
            };
        } catch (RuntimeException e) {
            ReferenceCountUtil.release(payload);
            reply(r, Nbd.EIO, null, "the device threw " + e);
            return;
        }
        f.whenComplete((result, failure) -> deliver(r, result, failure));
    }

    /**
     * The request's error before it reaches the device, or 0. proto.md "Error values": EINVAL for
     * an unknown command or flag and for a read or trim past the end, ENOSPC for a write past the
     * end, EPERM for a write to a read-only export.
     */
    private int check(Request r) {
        boolean writes = r.type == Nbd.CMD_WRITE || r.type == Nbd.CMD_TRIM || r.type == Nbd.CMD_WRITE_ZEROES;
        if (!writes && r.type != Nbd.CMD_READ && r.type != Nbd.CMD_FLUSH) {
            return reject(r, Nbd.EINVAL, "command not supported");
        }
        int allowedFlags = Nbd.CMD_FLAG_FUA | (r.type == Nbd.CMD_WRITE_ZEROES ? Nbd.CMD_FLAG_NO_HOLE : 0);
        if ((r.flags & ~allowedFlags) != 0) {
            return reject(r, Nbd.EINVAL, "flags 0x" + Integer.toHexString(r.flags & ~allowedFlags)
                + " not supported for this command");
        }
        if (writes && readOnly) {
            return reject(r, Nbd.EPERM, "the export is read-only");
        }
        if (r.type == Nbd.CMD_FLUSH) {
            return 0; // offset and length are reserved; not checked
        }
        if (r.offset < 0 || r.offset > sizeBytes - r.length) {
            int error = r.type == Nbd.CMD_WRITE || r.type == Nbd.CMD_WRITE_ZEROES ? Nbd.ENOSPC : Nbd.EINVAL;
            return reject(r, error, "outside the export's " + sizeBytes + " bytes");
        }
        return 0;
    }

    private int reject(Request r, int error, String why) {
        logError(r, error, why);
        return error;
    }

    /** A device completion, on whatever thread it came: back to the event loop. */
    private void deliver(Request r, Object result, Throwable failure) {
        EventExecutor loop = ctx.executor();
        if (loop.inEventLoop()) {
            complete(r, result, failure);
            return;
        }
        try {
            loop.execute(() -> complete(r, result, failure));
        } catch (RejectedExecutionException e) {
            ReferenceCountUtil.release(result); // the loop is gone: so is the connection
        }
    }

    private void complete(Request r, Object result, Throwable failure) {
        if (failure != null) {
            ReferenceCountUtil.release(result);
            Throwable cause = unwrap(failure);
            int error = errorFor(cause);
            reply(r, error, null, cause.getMessage() == null ? cause.toString() : cause.getMessage());
            return;
        }
        if (r.type != Nbd.CMD_READ) {
            reply(r, 0, null, null);
            return;
        }
        if (!(result instanceof ByteBuf data) || data.readableBytes() != r.length) {
            // never send a payload of the wrong size: the client would lose the framing
            String got = result instanceof ByteBuf b ? b.readableBytes() + " bytes" : String.valueOf(result);
            ReferenceCountUtil.release(result);
            reply(r, Nbd.EIO, null, "the device returned " + got + " for a read of " + r.length);
            return;
        }
        reply(r, 0, data, null);
    }

    /**
     * Writes the simple reply (header, then the data of a successful READ) and counts the request
     * done once it is on the socket. Owns {@code data}. {@code why}: the device's failure, logged.
     */
    private void reply(Request r, int error, ByteBuf data, String why) {
        if (error != 0 && why != null) {
            logError(r, error, why);
        }
        if (phase == Phase.CLOSED || !ctx.channel().isActive()) {
            ReferenceCountUtil.release(data);
            done(r);
            return;
        }
        ByteBuf header = ctx.alloc().buffer(Nbd.SIMPLE_REPLY_BYTES)
            .writeInt(Nbd.SIMPLE_REPLY_MAGIC)
            .writeInt(error)
            .writeLong(r.cookie);
        ChannelPromise written = ctx.newPromise();
        if (unwrittenReplies++ == 0) {
            lastWriteNanos = config.nanoClock.getAsLong(); // the stall clock starts with the first reply waiting
        }
        written.addListener(f -> {
            unwrittenReplies--;
            lastWriteNanos = config.nanoClock.getAsLong();
            done(r);
        });
        if (data == null) {
            ctx.write(header, written);
        } else {
            ctx.write(header);
            ctx.write(data, written);
        }
        scheduleFlush();
    }

    /** Flushes once for every reply written in this turn of the event loop. */
    private void scheduleFlush() {
        if (flushScheduled) {
            return;
        }
        flushScheduled = true;
        try {
            ctx.executor().execute(() -> {
                flushScheduled = false;
                ctx.flush();
            });
        } catch (RejectedExecutionException e) {
            flushScheduled = false;
            ctx.flush();
        }
    }

    /** The reply is written (or the connection is gone): the request no longer counts. */
    private void done(Request r) {
        inFlight--;
        inFlightBytes -= r.costBytes;
        config.budget.release(peer.key(), r.costBytes);
        if (phase == Phase.DRAINING) {
            if (inFlight == 0) {
                closeAfterFlush();
            }
            return;
        }
        waitingForReplies = false; // decodeRequest looks again
        resume();
    }

    /**
     * Closes a connection whose client has taken none of its replies for the stall timeout:
     * replies wait to be written and the socket's outbound bytes have not gone down (a client
     * reading a large reply slowly is making progress). Its budget is freed when the pending
     * writes fail. Runs on the event loop, every quarter of the timeout.
     */
    void checkStall() {
        if (phase != Phase.TRANSMISSION && phase != Phase.DRAINING) {
            return;
        }
        long now = config.nanoClock.getAsLong();
        ChannelOutboundBuffer out = ctx.channel().unsafe().outboundBuffer();
        long pending = out == null ? 0 : out.totalPendingWriteBytes();
        if (unwrittenReplies == 0 || pending < lastPendingBytes) {
            lastWriteNanos = now;
        }
        lastPendingBytes = pending;
        if (unwrittenReplies > 0 && now - lastWriteNanos >= config.stallTimeout.toNanos()) {
            config.stats.stalledClosed.increment();
            hardDisconnect("took no reply for " + TimeUnit.NANOSECONDS.toMillis(now - lastWriteNanos) + " ms (stall "
                + "timeout " + config.stallTimeout.toMillis() + " ms): " + unwrittenReplies + " replies and "
                + inFlightBytes + " payload bytes held");
        }
    }

    private void logError(Request r, int error, String why) {
        errors++;
        config.stats.errorReplies.increment();
        if (errors <= LOGGED_ERRORS) {
            String more = config.misbehaviourLog.admit();
            if (more != null) {
                log.warn("nbd client {}: export {}: {} -> {}: {}{}", client, exportName, r.describe(),
                    Nbd.errorName(error), why, more);
            }
        }
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** Our error codes as NBD's: PERM → EPERM, PARAM → EINVAL, anything else (IO, LOSTLINK …) → EIO. */
    static int errorFor(Throwable t) {
        if (t instanceof BlockException b) {
            return switch (b.error()) {
                case Dmsg.ERR_PERM -> Nbd.EPERM;
                case Dmsg.ERR_PARAM -> Nbd.EINVAL;
                default -> Nbd.EIO;
            };
        }
        return Nbd.EIO;
    }
}
