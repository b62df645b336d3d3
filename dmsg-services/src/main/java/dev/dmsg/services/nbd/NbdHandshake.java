package dev.dmsg.services.nbd;

import dev.dmsg.link.tls.PeerIdentity;
import dev.dmsg.link.tls.Refusal;
import dev.dmsg.services.blk.BlockDevice;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.ssl.SslHandler;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fixed-newstyle handshake of one {@link NbdConnection} (docs/BLK.md "Handshake"): the
 * client's flags, then option haggling until NBD_OPT_EXPORT_NAME or NBD_OPT_GO chooses an export,
 * and NBD_OPT_STARTTLS (docs/BLK.md "TLS"): answered in plaintext, then an {@link SslHandler} goes
 * first in the pipeline. With TLS required, every other option but NBD_OPT_ABORT is refused
 * (NBD_REP_ERR_TLS_REQD) until then.
 *
 * <p>Concurrency: the connection's event loop only, like the connection that owns it. Decoding
 * reads whole messages from the connection's input and never consumes a partial one; closing,
 * the phase and entering transmission are the connection's.
 */
final class NbdHandshake {
    /** The connection's logger: operators (and the attack tests) read one story per connection. */
    private static final Logger log = LoggerFactory.getLogger(NbdConnection.class);

    /** Option data longer than this closes the connection: the longest legal option (GO with a 4096-byte name) is far shorter. */
    static final int MAX_OPTION_BYTES = 65536;
    /** Options per connection before we decide the client is looping and disconnect it. */
    static final int MAX_OPTIONS = 256;

    private final NbdConnection conn;
    private final NbdConfig config;
    private boolean clientNoZeroes;
    private int options;

    /** TLS is running on this connection (after NBD_OPT_STARTTLS). */
    private boolean tlsActive;
    /** The trusted client of the TLS session; what it may do. */
    private PeerIdentity tlsPeer;
    private NbdTls.Access access = NbdTls.Access.READ_WRITE;
    private boolean tlsRequiredCounted;

    NbdHandshake(NbdConnection conn) {
        this.conn = conn;
        this.config = conn.config;
    }

    /** The greeting: NBDMAGIC, IHAVEOPT, our handshake flags. */
    void hello(ChannelHandlerContext ctx) {
        ByteBuf hello = ctx.alloc().buffer(Nbd.HANDSHAKE_BYTES)
            .writeLong(Nbd.NBDMAGIC)
            .writeLong(Nbd.IHAVEOPT)
            .writeShort(Nbd.FLAG_FIXED_NEWSTYLE | Nbd.FLAG_NO_ZEROES);
        ctx.writeAndFlush(hello);
    }

    /** TLS is required and has not started: what the handshake timeout's line adds. */
    boolean tlsMissing() {
        return config.tls != null && !tlsActive;
    }

    boolean decodeClientFlags(ByteBuf in) {
        if (in.readableBytes() < 4) {
            return false;
        }
        int flags = in.readInt();
        int known = Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES;
        if ((flags & ~known) != 0) {
            // proto.md "Client flags": the server MUST drop the connection on an unknown flag
            conn.malformed(String.format("client flags 0x%08x have unknown bits 0x%08x", flags, flags & ~known));
            return false;
        }
        clientNoZeroes = (flags & Nbd.FLAG_C_NO_ZEROES) != 0;
        if ((flags & Nbd.FLAG_C_FIXED_NEWSTYLE) == 0) {
            log.debug("nbd client {}: did not set NBD_FLAG_C_FIXED_NEWSTYLE; answering options anyway", conn.client);
        }
        conn.transition(NbdConnection.Phase.OPTIONS, "client flags 0x" + Integer.toHexString(flags));
        return true;
    }

    /** One whole option from {@code in}, if it is there and no TLS handshake is running. */
    boolean decodeOption(ByteBuf in) {
        if (tlsUpgrading() || in.readableBytes() < Nbd.OPTION_HEADER_BYTES) {
            return false;
        }
        int at = in.readerIndex();
        long magic = in.getLong(at);
        if (magic != Nbd.IHAVEOPT) {
            conn.malformed(String.format("option magic 0x%016x, expected IHAVEOPT 0x%016x", magic, Nbd.IHAVEOPT));
            return false;
        }
        int option = in.getInt(at + 8);
        long length = in.getUnsignedInt(at + 12);
        if (length > MAX_OPTION_BYTES) {
            conn.malformed(Nbd.optionName(option) + " with " + length + " bytes of data > max " + MAX_OPTION_BYTES);
            return false;
        }
        if (in.readableBytes() < Nbd.OPTION_HEADER_BYTES + length) {
            return false;
        }
        if (++options > MAX_OPTIONS) {
            conn.malformed("more than " + MAX_OPTIONS + " options without choosing an export");
            return false;
        }
        in.skipBytes(Nbd.OPTION_HEADER_BYTES);
        ByteBuf data = in.readSlice((int) length);
        handleOption(option, data, in);
        return true;
    }

    /** {@code rest}: the input after the option (NBD_OPT_STARTTLS wants none). */
    private void handleOption(int option, ByteBuf data, ByteBuf rest) {
        if (config.tls != null && !tlsActive && option != Nbd.OPT_STARTTLS && option != Nbd.OPT_ABORT) {
            refuseUntilTls(option);
            return;
        }
        switch (option) {
            case Nbd.OPT_EXPORT_NAME -> optExportName(data);
            case Nbd.OPT_ABORT -> {
                // proto.md: the server MUST reply ACK; the client then closes (we close too)
                conn.closeReason = "the client sent NBD_OPT_ABORT";
                conn.ctx.write(optionReply(option, Nbd.REP_ACK, 0));
                conn.closeAfterFlush();
            }
            case Nbd.OPT_LIST -> optList(data);
            case Nbd.OPT_INFO, Nbd.OPT_GO -> optInfoOrGo(option, data);
            case Nbd.OPT_STRUCTURED_REPLY -> optionError(option, Nbd.REP_ERR_UNSUP,
                "structured replies are not supported: simple replies only");
            case Nbd.OPT_STARTTLS -> optStartTls(data, rest);
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
                log.warn("nbd client {}: {} before NBD_OPT_STARTTLS: refused, TLS is required{}", conn.client,
                    Nbd.optionName(option), more);
            }
        }
        if (option == Nbd.OPT_EXPORT_NAME) {
            conn.hardDisconnect("NBD_OPT_EXPORT_NAME without TLS: TLS is required");
            return;
        }
        optionError(option, Nbd.REP_ERR_TLS_REQD, "TLS is required: send NBD_OPT_STARTTLS first (an nbds:// URI)");
    }

    /** NBD_OPT_STARTTLS: ACK in plaintext, then TLS first in the pipeline (proto.md "TLS support"). */
    private void optStartTls(ByteBuf data, ByteBuf rest) {
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
        if (rest.isReadable()) {
            // proto.md: the client waits for the reply; anything before it would be read as TLS
            conn.malformed("sent " + rest.readableBytes() + " bytes after NBD_OPT_STARTTLS before its reply");
            return;
        }
        ChannelHandlerContext ctx = conn.ctx;
        ctx.writeAndFlush(optionReply(Nbd.OPT_STARTTLS, Nbd.REP_ACK, 0)); // passes no SslHandler: plaintext
        SslHandler ssl = config.tls.newHandler(ctx.alloc(), conn.peer.host(), conn.peer.port());
        ctx.pipeline().addFirst("tls", ssl);
        tlsActive = true;
        ssl.handshakeFuture().addListener(f -> tlsHandshakeDone(f.isSuccess() ? null : f.cause(), ssl));
    }

    /** Options wait while the TLS handshake runs. */
    private boolean tlsUpgrading() {
        return tlsActive && tlsPeer == null;
    }

    private void tlsHandshakeDone(Throwable failure, SslHandler ssl) {
        if (conn.phase == NbdConnection.Phase.CLOSED) {
            return;
        }
        String refused = null;
        if (failure != null) {
            refused = config.tls.describeFailure(failure);
        } else {
            try {
                tlsPeer = config.tls.identify(ssl.engine().getSession(), conn.client);
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
                log.warn("nbd client {}: TLS: {}; closing the connection{}", conn.client, refused, more);
            }
            conn.closeNow(refused);
            return;
        }
        config.stats.tlsSessions.increment();
        conn.client = conn.peer.text() + " ('" + tlsPeer.name() + "')";
        log.debug("nbd client {}: TLS {} {}, {}", conn.client, ssl.engine().getSession().getProtocol(),
            ssl.engine().getSession().getCipherSuite(), access);
        conn.process(); // options that arrived with the handshake's last flight
    }

    private void optExportName(ByteBuf data) {
        if (data.readableBytes() > Nbd.MAX_NAME_BYTES) {
            conn.malformed("NBD_OPT_EXPORT_NAME with a " + data.readableBytes() + "-byte name > max "
                + Nbd.MAX_NAME_BYTES);
            return;
        }
        String name = data.toString(StandardCharsets.UTF_8);
        BlockDevice d = lookup(name);
        if (d == null) {
            // proto.md: EXPORT_NAME cannot carry an error; the server MUST terminate the session
            conn.malformed("NBD_OPT_EXPORT_NAME: no export named '" + name + "'");
            return;
        }
        int flags = transmissionFlags(d);
        ByteBuf reply = conn.ctx.alloc().buffer(10 + Nbd.EXPORT_NAME_PAD_BYTES)
            .writeLong(d.sizeBytes())
            .writeShort(flags);
        if (!clientNoZeroes) {
            reply.writeZero(Nbd.EXPORT_NAME_PAD_BYTES);
        }
        conn.ctx.writeAndFlush(reply);
        conn.enterTransmission(name, d, readOnlyFor(d), "NBD_OPT_EXPORT_NAME");
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
            log.warn("nbd client {}: NBD_OPT_LIST: listing the exports failed", conn.client, e);
            optionError(Nbd.OPT_LIST, Nbd.REP_ERR_INVALID, "listing the exports failed");
            return;
        }
        for (String name : names) {
            byte[] n = name.getBytes(StandardCharsets.UTF_8);
            ByteBuf r = optionReply(Nbd.OPT_LIST, Nbd.REP_SERVER, 4 + n.length);
            r.writeInt(n.length).writeBytes(n);
            conn.ctx.write(r);
        }
        conn.ctx.writeAndFlush(optionReply(Nbd.OPT_LIST, Nbd.REP_ACK, 0));
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
        ChannelHandlerContext ctx = conn.ctx;
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
            conn.enterTransmission(name.isEmpty() ? config.exports.defaultName() : name, d, readOnlyFor(d),
                "NBD_OPT_GO");
        }
    }

    private BlockDevice lookup(String name) {
        try {
            return config.exports.find(name);
        } catch (RuntimeException e) {
            log.warn("nbd client {}: looking up export '{}' failed", conn.client, name, e);
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

    private ByteBuf optionReply(int option, int type, int dataBytes) {
        return conn.ctx.alloc().buffer(20 + dataBytes)
            .writeLong(Nbd.REPLY_MAGIC)
            .writeInt(option)
            .writeInt(type)
            .writeInt(dataBytes);
    }

    private void optionError(int option, int type, String message) {
        log.debug("nbd client {}: {} refused: {}", conn.client, Nbd.optionName(option), message);
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        ByteBuf r = optionReply(option, type, m.length);
        r.writeBytes(m);
        conn.ctx.writeAndFlush(r);
    }
}
