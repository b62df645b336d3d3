package dev.dmsg.bench;

import dev.dmsg.wire.Dmsg;
import dev.dmsg.wire.DmsgProtocolException;
import dev.dmsg.wire.FrameDecoder;
import dev.dmsg.wire.FrameEncoder;
import dev.dmsg.wire.LnkSpan;
import dev.dmsg.wire.Message;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import java.nio.ByteBuffer;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The wire codec alone (dmsg-wire {@link FrameEncoder} / {@link FrameDecoder}), beside raw
 * baselines in the same class: what the same bytes cost without DMSG.
 *
 * <ul>
 *   <li>{@code encode*}: one frame into a reused pooled direct buffer (cleared per op), as the link
 *       writes into its batch buffer. {@code encodeAux4kHeader} is what the link does for aux of
 *       1 KiB or more: the header with the aux CRC, the aux itself not copied.
 *   <li>{@code decode*}: one frame out of a reused buffer holding 256 consecutive frames (salt
 *       sequence 0..255, so the sequence check stays on and wraps exactly as on a link); the
 *       message is released, its aux being a retained slice.
 *   <li>{@code raw*}: a plain 64-byte {@code writeLongLE} fill; CRC-32C over 64 bytes and 4 KiB;
 *       the fill plus its CRC (the floor under a header encode); Netty's
 *       {@code LengthFieldBasedFrameDecoder} cutting a 4-byte-length-prefixed 64-byte and 4 KiB
 *       frame (the floor under a decode, minus DMSG's CRC checks).
 * </ul>
 *
 * Leak detection is off in the forked JVM: its sampling wraps 1 in 128 buffers, which would make
 * the run depend on which buffer happened to be sampled.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Dio.netty.leakDetection.level=disabled", "-Dio.netty.allocator.type=pooled"})
@State(Scope.Thread)
public class CodecBenchmark {
    /** DBG_ECHO (dmsg-services EchoService), header-only: the command of the pipelined benchmark. */
    static final int DBG_ECHO = 0x0010fe01;
    static final int FRAMES = 256;
    static final int AUX_4K = 4096;

    private final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    private final FrameEncoder encoder = new FrameEncoder();
    private FrameDecoder decoderHeaderOnly;
    private FrameDecoder decoderSpan;
    private FrameDecoder decoderAux4k;

    private Message headerOnly;
    private Message span;
    private Message aux4k;

    /** Encode target, cleared every op. */
    private ByteBuf out;
    /** 256 consecutive encoded frames of each kind, decoded round and round. */
    private ByteBuf inHeaderOnly;
    private ByteBuf inSpan;
    private ByteBuf inAux4k;

    // Raw baselines.
    private final CRC32C crc = new CRC32C();
    private ByteBuf raw64;
    private ByteBuf raw4k;
    private ByteBuf inRaw64;
    private ByteBuf inRaw4k;
    private final ExposedLengthFieldDecoder lengthField = new ExposedLengthFieldDecoder();

    /** Netty's length-prefixed framer with its decode step callable outside a pipeline. */
    static final class ExposedLengthFieldDecoder extends LengthFieldBasedFrameDecoder {
        ExposedLengthFieldDecoder() {
            super(1 << 20, 0, 4, 0, 4);
        }

        Object cut(ByteBuf in) throws Exception {
            return decode(null, in); // ctx is only used to report a failure
        }
    }

    @Setup(Level.Trial)
    public void setUp() throws DmsgProtocolException {
        headerOnly = Message.of(DBG_ECHO | Dmsg.CREATE | Dmsg.DELETE, 0x1234_5678_9abcL, 0, 0);
        UUID clid = UUID.fromString("0dbbe1a4-7a6b-11e2-8f25-0123456789ab");
        UUID fsid = UUID.fromString("5a1a0e2c-7a6b-11e2-8f25-0123456789ab");
        LnkSpan s = new LnkSpan(clid, fsid, Dmsg.PFSTYPE_MASTER, Dmsg.PEER_HAMMER2, Dmsg.SPAN_PROTO_1, 0,
            0L, 2, 0x1234, 0L, 0, "cluster-a", "node-17.example");
        span = Message.of(Dmsg.LNK_SPAN | Dmsg.CREATE, 0x42L, 0, 0, s, null);
        ByteBuf aux = alloc.directBuffer(AUX_4K);
        for (int i = 0; i < AUX_4K; i++) {
            aux.writeByte(i * 31);
        }
        aux4k = Message.of(DBG_ECHO, 0x43L, 0, 0, null, aux);

        out = alloc.directBuffer(8192);
        inHeaderOnly = frames(headerOnly);
        inSpan = frames(span);
        inAux4k = frames(aux4k);
        decoderHeaderOnly = new FrameDecoder();
        decoderSpan = new FrameDecoder();
        decoderAux4k = new FrameDecoder();
        // Prove the inputs decode (and fail fast if the codec changed under us).
        for (int i = 0; i < FRAMES; i++) {
            decodeHeaderOnly();
            decodeSpan();
            decodeAux4k(); // releases the message itself
        }

        raw64 = alloc.directBuffer(64);
        raw4k = alloc.directBuffer(AUX_4K).writeBytes(aux4k.aux());
        inRaw64 = rawFrames(60);
        inRaw4k = rawFrames(AUX_4K);
    }

    /** {@link #FRAMES} frames of {@code m} with consecutive salt sequence numbers 0..255. */
    private ByteBuf frames(Message m) {
        FrameEncoder e = new FrameEncoder();
        ByteBuf b = alloc.directBuffer(FRAMES * FrameEncoder.frameBytes(m));
        for (int i = 0; i < FRAMES; i++) {
            e.encode(m, b);
        }
        return b;
    }

    private ByteBuf rawFrames(int bodyBytes) {
        ByteBuf b = alloc.directBuffer(FRAMES * (4 + bodyBytes));
        for (int i = 0; i < FRAMES; i++) {
            b.writeInt(bodyBytes).writeZero(bodyBytes);
        }
        return b;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        for (ByteBuf b : new ByteBuf[] {out, inHeaderOnly, inSpan, inAux4k, raw64, raw4k, inRaw64, inRaw4k}) {
            b.release();
        }
        aux4k.release();
    }

    // ---- encode ----

    @Benchmark
    public ByteBuf encodeHeaderOnly() {
        out.clear();
        encoder.encode(headerOnly, out);
        return out;
    }

    @Benchmark
    public ByteBuf encodeSpan() {
        out.clear();
        encoder.encode(span, out);
        return out;
    }

    /** Header, aux copied, padding: the whole 4160-byte frame in one buffer. */
    @Benchmark
    public ByteBuf encodeAux4kCopy() {
        out.clear();
        encoder.encode(aux4k, out);
        return out;
    }

    /** What the link does for aux >= 1 KiB: header plus aux CRC; the aux goes to the socket as is. */
    @Benchmark
    public ByteBuf encodeAux4kHeader() {
        out.clear();
        encoder.encodeHeader(aux4k, out);
        return out;
    }

    // ---- decode ----

    @Benchmark
    public Message decodeHeaderOnly() throws DmsgProtocolException {
        return decodeNext(decoderHeaderOnly, inHeaderOnly);
    }

    @Benchmark
    public Message decodeSpan() throws DmsgProtocolException {
        return decodeNext(decoderSpan, inSpan);
    }

    @Benchmark
    public Message decodeAux4k() throws DmsgProtocolException {
        Message m = decodeNext(decoderAux4k, inAux4k);
        m.release(); // the aux slice; what a handler's caller does after dispatch
        return m;
    }

    private static Message decodeNext(FrameDecoder d, ByteBuf in) throws DmsgProtocolException {
        if (!in.isReadable()) {
            in.readerIndex(0);
        }
        return d.decode(in);
    }

    // ---- raw baselines ----

    @Benchmark
    public ByteBuf rawFill64() {
        ByteBuf b = raw64.clear();
        for (int i = 0; i < 8; i++) {
            b.writeLongLE(0x0123_4567_89ab_cdefL + i);
        }
        return b;
    }

    @Benchmark
    public int rawCrc32c64() {
        crc.reset();
        crc.update(raw64.internalNioBuffer(0, 64));
        return (int) crc.getValue();
    }

    /** The floor under {@link #encodeHeaderOnly}: 64 bytes written plus their CRC-32C. */
    @Benchmark
    public int rawFill64Crc32c() {
        ByteBuf b = rawFill64();
        crc.reset();
        ByteBuffer nio = b.internalNioBuffer(0, 64);
        crc.update(nio);
        return (int) crc.getValue();
    }

    @Benchmark
    public int rawCrc32c4k() {
        crc.reset();
        crc.update(raw4k.internalNioBuffer(0, AUX_4K));
        return (int) crc.getValue();
    }

    /** Netty's length-prefixed framing of a 64-byte frame (4-byte length + 60): slice, release. */
    @Benchmark
    public Object rawLengthFieldDecode64() throws Exception {
        return rawCut(inRaw64);
    }

    @Benchmark
    public Object rawLengthFieldDecode4k() throws Exception {
        return rawCut(inRaw4k);
    }

    private Object rawCut(ByteBuf in) throws Exception {
        if (!in.isReadable()) {
            in.readerIndex(0);
        }
        ByteBuf frame = (ByteBuf) lengthField.cut(in);
        frame.release();
        return frame;
    }
}
