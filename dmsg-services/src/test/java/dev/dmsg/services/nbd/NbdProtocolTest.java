package dev.dmsg.services.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import dev.dmsg.services.blk.BlockDevice;
import dev.dmsg.services.blk.BlockException;
import dev.dmsg.services.blk.FileBlockDevice;
import dev.dmsg.testkit.Await;
import dev.dmsg.testkit.LeakDetector;
import dev.dmsg.wire.Dmsg;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * The NBD server byte by byte, with {@link RawNbdClient}: the handshake's golden bytes, every
 * option, every command, the error codes, malformed input, pipelining and backpressure.
 */
@ExtendWith(LeakDetector.class)
@Timeout(30)
class NbdProtocolTest {
    static final int DISK_BYTES = 1 << 20;
    static final int FLAGS_RW = Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_SEND_FLUSH | Nbd.FLAG_SEND_FUA | Nbd.FLAG_SEND_TRIM
        | Nbd.FLAG_SEND_WRITE_ZEROES | Nbd.FLAG_CAN_MULTI_CONN;

    @TempDir
    Path tmp;

    ExecutorService io;
    FileBlockDevice disk0;
    FileBlockDevice golden;
    NbdServer server;

    @BeforeEach
    void start() throws Exception {
        io = Executors.newFixedThreadPool(4);
        Path d0 = tmp.resolve("disk0.img");
        Files.write(d0, new byte[DISK_BYTES]);
        Path g = tmp.resolve("golden.img");
        byte[] gold = new byte[64 * 1024];
        new Random(7).nextBytes(gold);
        Files.write(g, gold);
        disk0 = FileBlockDevice.open("disk0", d0, false, 4096, io);
        golden = FileBlockDevice.open("golden", g, true, 512, io);
        server = NbdServer.builder().export("disk0", disk0).export("golden", golden).bind("127.0.0.1", 0);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
        }
        disk0.close();
        golden.close();
        io.shutdownNow();
    }

    RawNbdClient connect() throws IOException {
        return new RawNbdClient(server.localAddress());
    }

    RawNbdClient connectTo(String export) throws IOException {
        RawNbdClient c = connect();
        c.handshake();
        c.go(export);
        return c;
    }

    static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    // ------------------------------------------------------------------ handshake and options

    @Test
    void greetingIsFixedNewstyleWithNoZeroes() throws Exception {
        try (RawNbdClient c = connect()) {
            byte[] greeting = new byte[18];
            c.in.readFully(greeting);
            assertThat(greeting).isEqualTo(new byte[] {
                'N', 'B', 'D', 'M', 'A', 'G', 'I', 'C',  // NBDMAGIC
                'I', 'H', 'A', 'V', 'E', 'O', 'P', 'T',  // IHAVEOPT
                0x00, 0x03});                              // handshake flags: FIXED_NEWSTYLE | NO_ZEROES
        }
    }

    @Test
    void goAnswersExportInfoAndBlockSizesThenTransmits() throws Exception {
        try (RawNbdClient c = connect()) {
            c.handshake();
            RawNbdClient.Export e = c.go("disk0");
            assertThat(e.sizeBytes()).isEqualTo(DISK_BYTES);
            assertThat(e.flags()).isEqualTo(FLAGS_RW);
            assertThat(e.minBlock()).isEqualTo(1);
            assertThat(e.preferredBlock()).isEqualTo(4096);
            assertThat(e.maxPayload()).isEqualTo(32 << 20);
            assertThat(c.call(Nbd.CMD_READ, 0, 0, 512, null).error()).isZero();
        }
    }

    @Test
    void infoAndListKeepTheConnectionInOptionsAndTheDefaultExportIsTheOnlyOne() throws Exception {
        try (RawNbdClient c = connect()) {
            c.handshake();
            c.sendOption(Nbd.OPT_LIST, new byte[0]);
            List<String> names = new ArrayList<>();
            for (RawNbdClient.OptionReply r = c.readOptionReply(); r.type() != Nbd.REP_ACK; r = c.readOptionReply()) {
                assertThat(r.type()).isEqualTo(Nbd.REP_SERVER);
                ByteBuffer b = ByteBuffer.wrap(r.data());
                byte[] n = new byte[b.getInt()];
                b.get(n);
                names.add(new String(n, StandardCharsets.UTF_8));
            }
            assertThat(names).containsExactly("disk0", "golden");

            c.sendOption(Nbd.OPT_LIST, new byte[] {1});
            assertThat(c.readOptionReply().type()).as("LIST with data").isEqualTo(Nbd.REP_ERR_INVALID);

            c.sendOption(Nbd.OPT_INFO, RawNbdClient.infoRequest("golden", Nbd.INFO_NAME));
            Map<Integer, byte[]> infos = new HashMap<>();
            for (RawNbdClient.OptionReply r = c.readOptionReply(); r.type() != Nbd.REP_ACK; r = c.readOptionReply()) {
                assertThat(r.type()).isEqualTo(Nbd.REP_INFO);
                infos.put(((r.data()[0] & 0xff) << 8) | (r.data()[1] & 0xff), r.data());
            }
            assertThat(infos).containsOnlyKeys(Nbd.INFO_EXPORT, Nbd.INFO_NAME, Nbd.INFO_BLOCK_SIZE);
            ByteBuffer export = ByteBuffer.wrap(infos.get(Nbd.INFO_EXPORT), 2, 10);
            assertThat(export.getLong()).isEqualTo(64 * 1024);
            assertThat(export.getShort() & 0xffff)
                .isEqualTo(Nbd.FLAG_HAS_FLAGS | Nbd.FLAG_READ_ONLY | Nbd.FLAG_SEND_FLUSH | Nbd.FLAG_CAN_MULTI_CONN);
            assertThat(new String(infos.get(Nbd.INFO_NAME), 2, 6, StandardCharsets.US_ASCII)).isEqualTo("golden");

            c.sendOption(Nbd.OPT_GO, RawNbdClient.infoRequest("nosuch"));
            RawNbdClient.OptionReply unknown = c.readOptionReply();
            assertThat(unknown.type()).isEqualTo(Nbd.REP_ERR_UNKNOWN);
            assertThat(unknown.text()).contains("nosuch");

            c.sendOption(Nbd.OPT_GO, new byte[] {0, 0, 0, 9, 'x', 0});
            assertThat(c.readOptionReply().type()).as("name longer than the option").isEqualTo(Nbd.REP_ERR_INVALID);

            // two exports, no default: the empty name is unknown
            c.sendOption(Nbd.OPT_INFO, RawNbdClient.infoRequest(""));
            assertThat(c.readOptionReply().type()).isEqualTo(Nbd.REP_ERR_UNKNOWN);

            // after all that, still haggling: GO works
            assertThat(c.go("golden").sizeBytes()).isEqualTo(64 * 1024);
        }
        server.close();
        server = NbdServer.builder().export("disk0", disk0).bind("127.0.0.1", 0);
        try (RawNbdClient c = connectTo("")) {
            assertThat(c.call(Nbd.CMD_READ, 0, DISK_BYTES - 512, 512, null).error()).isZero();
        }
    }

    @Test
    void unknownOptionsAndStructuredRepliesAreAnsweredUnsupported() throws Exception {
        try (RawNbdClient c = connect()) {
            c.handshake();
            c.sendOption(0x1234, "whatever".getBytes(StandardCharsets.US_ASCII));
            RawNbdClient.OptionReply r = c.readOptionReply();
            assertThat(r.option()).isEqualTo(0x1234);
            assertThat(r.type()).isEqualTo(Nbd.REP_ERR_UNSUP);
            c.sendOption(Nbd.OPT_STRUCTURED_REPLY, new byte[0]);
            assertThat(c.readOptionReply().type()).isEqualTo(Nbd.REP_ERR_UNSUP);
            c.sendOption(Nbd.OPT_STARTTLS, new byte[0]);
            assertThat(c.readOptionReply().type()).isEqualTo(Nbd.REP_ERR_UNSUP);
            c.sendOption(Nbd.OPT_SET_META_CONTEXT, new byte[0]);
            assertThat(c.readOptionReply().type()).isEqualTo(Nbd.REP_ERR_UNSUP);
            assertThat(c.go("disk0").flags()).isEqualTo(FLAGS_RW);
        }
    }

    @Test
    void abortIsAcknowledgedThenTheServerCloses() throws Exception {
        try (RawNbdClient c = connect()) {
            c.handshake();
            c.sendOption(Nbd.OPT_ABORT, new byte[0]);
            RawNbdClient.OptionReply r = c.readOptionReply();
            assertThat(r.option()).isEqualTo(Nbd.OPT_ABORT);
            assertThat(r.type()).isEqualTo(Nbd.REP_ACK);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void exportNameEntersTransmissionWithZeroPaddingUnlessNoZeroes() throws Exception {
        try (RawNbdClient c = connect()) {
            c.handshake(Nbd.FLAG_C_FIXED_NEWSTYLE); // no NO_ZEROES: 124 zeros follow
            c.sendOption(Nbd.OPT_EXPORT_NAME, "disk0".getBytes(StandardCharsets.US_ASCII));
            assertThat(c.in.readLong()).isEqualTo(DISK_BYTES);
            assertThat(c.in.readUnsignedShort()).isEqualTo(FLAGS_RW);
            byte[] zeros = new byte[124];
            c.in.readFully(zeros);
            assertThat(zeros).containsOnly((byte) 0);
            assertThat(c.call(Nbd.CMD_READ, 0, 0, 4096, null).data()).hasSize(4096);
        }
        try (RawNbdClient c = connect()) {
            c.handshake();
            c.sendOption(Nbd.OPT_EXPORT_NAME, "disk0".getBytes(StandardCharsets.US_ASCII));
            assertThat(c.in.readLong()).isEqualTo(DISK_BYTES);
            assertThat(c.in.readUnsignedShort()).isEqualTo(FLAGS_RW);
            // no padding: the next bytes are the reply to our first request
            RawNbdClient.Reply r = c.call(Nbd.CMD_FLUSH, 0, 0, 0, null);
            assertThat(r.error()).isZero();
        }
        try (RawNbdClient c = connect()) {
            c.handshake();
            c.sendOption(Nbd.OPT_EXPORT_NAME, "nosuch".getBytes(StandardCharsets.US_ASCII));
            assertThat(c.closedByServer()).as("EXPORT_NAME cannot carry an error: hard disconnect").isTrue();
        }
    }

    // ------------------------------------------------------------------ malformed input

    @Test
    void malformedInputClosesTheConnectionAndTheServerCarriesOn() throws Exception {
        try (RawNbdClient c = connect()) {
            c.handshake(0x80); // an unknown client flag
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawNbdClient c = connect()) {
            c.handshake();
            c.out.writeLong(0x0123456789abcdefL); // not IHAVEOPT
            c.out.writeInt(Nbd.OPT_GO);
            c.out.writeInt(0);
            c.flush();
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawNbdClient c = connect()) {
            c.handshake();
            c.out.writeLong(Nbd.IHAVEOPT);
            c.out.writeInt(Nbd.OPT_GO);
            c.out.writeInt(-1); // 4 GiB of option data
            c.flush();
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawNbdClient c = connectTo("disk0")) {
            c.out.writeInt(0x12560953); // the historic request magic
            c.out.write(new byte[24]);
            c.flush();
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawNbdClient c = connectTo("disk0")) {
            c.request(Nbd.CMD_WRITE, 0, 1, 0, (32 << 20) + 1, null); // over the max payload
            c.flush();
            assertThat(c.closedByServer()).isTrue();
        }
        try (RawNbdClient c = connectTo("disk0")) {
            assertThat(c.call(Nbd.CMD_READ, 0, 0, 512, null).error()).as("the server still serves").isZero();
        }
    }

    // ------------------------------------------------------------------ commands

    @Test
    void readPastTheEndIsEinvalAndWritePastTheEndEnospc() throws Exception {
        try (RawNbdClient c = connectTo("disk0")) {
            assertThat(c.call(Nbd.CMD_READ, 0, DISK_BYTES - 511, 512, null).error()).isEqualTo(Nbd.EINVAL);
            assertThat(c.call(Nbd.CMD_READ, 0, -4096, 4096, null).error()).as("offset 2^64-4096").isEqualTo(Nbd.EINVAL);
            assertThat(c.call(Nbd.CMD_TRIM, 0, DISK_BYTES, 1, null).error()).isEqualTo(Nbd.EINVAL);
            assertThat(c.call(Nbd.CMD_WRITE, 0, DISK_BYTES - 1, 2, new byte[2]).error()).isEqualTo(Nbd.ENOSPC);
            assertThat(c.call(Nbd.CMD_WRITE_ZEROES, 0, DISK_BYTES, 4096, null).error()).isEqualTo(Nbd.ENOSPC);
            assertThat(c.call(Nbd.CMD_BLOCK_STATUS, 0, 0, 4096, null).error()).as("not negotiated").isEqualTo(Nbd.EINVAL);
            assertThat(c.call(99, 0, 0, 0, null).error()).as("unknown command").isEqualTo(Nbd.EINVAL);
            assertThat(c.call(Nbd.CMD_READ, Nbd.CMD_FLAG_DF, 0, 512, null).error()).as("DF not offered")
                .isEqualTo(Nbd.EINVAL);
            assertThat(c.call(Nbd.CMD_WRITE, 0x8000, 0, 3, new byte[3]).error()).as("unknown flag; payload skipped")
                .isEqualTo(Nbd.EINVAL);
            assertThat(c.call(Nbd.CMD_READ, 0, DISK_BYTES - 512, 512, null).data()).hasSize(512);
        }
    }

    @Test
    void writesToAReadOnlyExportAreEperm() throws Exception {
        try (RawNbdClient c = connectTo("golden")) {
            assertThat(c.call(Nbd.CMD_WRITE, 0, 0, 512, new byte[512]).error()).isEqualTo(Nbd.EPERM);
            assertThat(c.call(Nbd.CMD_WRITE_ZEROES, 0, 0, 512, null).error()).isEqualTo(Nbd.EPERM);
            assertThat(c.call(Nbd.CMD_TRIM, 0, 0, 512, null).error()).isEqualTo(Nbd.EPERM);
            assertThat(c.call(Nbd.CMD_FLUSH, 0, 0, 0, null).error()).isZero();
            byte[] first = c.call(Nbd.CMD_READ, 0, 0, 512, null).data();
            assertThat(first).isEqualTo(Arrays.copyOf(pattern(64 * 1024, 7), 512));
        }
    }

    @Test
    void writesWithFuaAreReadBackAndWriteZeroesAndTrimReadBackAsZeros() throws Exception {
        try (RawNbdClient c = connectTo("disk0")) {
            byte[] data = pattern(3 * 4096, 1);
            assertThat(c.call(Nbd.CMD_WRITE, Nbd.CMD_FLAG_FUA, 8192, data.length, data).error()).isZero();
            assertThat(c.call(Nbd.CMD_READ, 0, 8192, data.length, null).data()).isEqualTo(data);

            assertThat(c.call(Nbd.CMD_WRITE_ZEROES, Nbd.CMD_FLAG_FUA | Nbd.CMD_FLAG_NO_HOLE, 8192, 4096, null).error())
                .isZero();
            assertThat(c.call(Nbd.CMD_TRIM, Nbd.CMD_FLAG_FUA, 8192 + 4096, 4096, null).error()).isZero();
            assertThat(c.call(Nbd.CMD_FLUSH, 0, 0, 0, null).error()).isZero();
            byte[] back = c.call(Nbd.CMD_READ, 0, 8192, data.length, null).data();
            assertThat(Arrays.copyOfRange(back, 0, 8192)).containsOnly((byte) 0);
            assertThat(Arrays.copyOfRange(back, 8192, 12288))
                .isEqualTo(Arrays.copyOfRange(data, 8192, 12288));

            // unaligned and odd-sized: the minimum block size is 1
            byte[] odd = pattern(7, 2);
            assertThat(c.call(Nbd.CMD_WRITE, 0, 100_003, 7, odd).error()).isZero();
            assertThat(c.call(Nbd.CMD_READ, 0, 100_003, 7, null).data()).isEqualTo(odd);
            // zero length: answered, nothing done
            assertThat(c.call(Nbd.CMD_READ, 0, 0, 0, null).error()).isZero();
            assertThat(c.call(Nbd.CMD_WRITE, 0, 0, 0, new byte[0]).error()).isZero();
        }
    }

    @Test
    void discAnswersWhatCameBeforeItThenCloses() throws Exception {
        try (RawNbdClient c = connectTo("disk0")) {
            byte[] data = pattern(65536, 3);
            for (int i = 0; i < 8; i++) {
                c.request(Nbd.CMD_WRITE, 0, i, i * 65536L, data.length, data);
            }
            c.request(Nbd.CMD_DISC, 0, 99, 0, 0, null);
            c.flush();
            List<Long> cookies = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                RawNbdClient.Reply r = c.readReply(x -> 0);
                assertThat(r.error()).isZero();
                cookies.add(r.cookie());
            }
            assertThat(cookies).containsExactlyInAnyOrder(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L);
            assertThat(c.closedByServer()).isTrue();
        }
        ByteBuf back = disk0.read(7 * 65536L, 65536).get(5, TimeUnit.SECONDS);
        try {
            assertThat(ByteBufUtil.getBytes(back)).isEqualTo(pattern(65536, 3));
        } finally {
            back.release();
        }
    }

    @Test
    void twoHundredPipelinedRequestsCompleteWithTheRightData() throws Exception {
        int n = 100;
        int block = 4096;
        try (RawNbdClient c = connectTo("disk0")) {
            // 100 writes of distinct blocks, then 100 reads of them, all sent before any reply is read
            for (int i = 0; i < n; i++) {
                c.request(Nbd.CMD_WRITE, 0, 1000 + i, (long) i * block, block, pattern(block, 1000 + i));
            }
            c.flush();
            Map<Long, Integer> reads = new ConcurrentHashMap<>();
            // the writes must be answered before the reads are sent, or a read may overtake its write
            for (int i = 0; i < n; i++) {
                RawNbdClient.Reply r = c.readReply(x -> 0);
                assertThat(r.error()).isZero();
                assertThat(r.cookie()).isBetween(1000L, 1000L + n - 1);
            }
            for (int i = 0; i < n; i++) {
                reads.put(2000L + i, i);
            }
            // then 100 reads of them and 100 more writes, interleaved, sent by another thread while
            // this one reads the replies (a client that wrote everything before reading could
            // deadlock on full socket buffers, as with any server that bounds what it has in flight)
            CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                try {
                    for (int i = 0; i < n; i++) {
                        c.request(Nbd.CMD_READ, 0, 2000 + i, (long) i * block, block, null);
                        c.request(Nbd.CMD_WRITE, 0, 3000 + i, (long) (n + i) * block, block, pattern(block, 3000 + i));
                    }
                    c.flush();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            int readReplies = 0;
            int writeReplies = 0;
            for (int i = 0; i < 2 * n; i++) {
                RawNbdClient.Reply r = c.readReply(cookie -> reads.containsKey(cookie) ? block : 0);
                assertThat(r.error()).isZero();
                if (reads.containsKey(r.cookie())) {
                    int at = reads.remove(r.cookie());
                    assertThat(r.data()).as("block %d", at).isEqualTo(pattern(block, 1000 + at));
                    readReplies++;
                } else {
                    assertThat(r.cookie()).isBetween(3000L, 3000L + n - 1);
                    writeReplies++;
                }
            }
            assertThat(readReplies).isEqualTo(n);
            assertThat(writeReplies).isEqualTo(n);
            sender.get(5, TimeUnit.SECONDS);
        }
    }

    @Test
    void severalConnectionsAtOnceSeeEachOthersWritesAfterFlush() throws Exception {
        try (RawNbdClient a = connectTo("disk0"); RawNbdClient b = connectTo("disk0");
             RawNbdClient ro = connectTo("golden")) {
            byte[] data = pattern(4096, 9);
            assertThat(a.call(Nbd.CMD_WRITE, 0, 4096, 4096, data).error()).isZero();
            assertThat(a.call(Nbd.CMD_FLUSH, 0, 0, 0, null).error()).isZero();
            assertThat(b.call(Nbd.CMD_READ, 0, 4096, 4096, null).data()).isEqualTo(data);
            assertThat(ro.call(Nbd.CMD_READ, 0, 0, 16, null).data()).hasSize(16);
            assertThat(server.connections()).isEqualTo(3);
        }
    }

    // ------------------------------------------------------------------ device failures and backpressure

    @Test
    void deviceErrorsAreMappedAndNamed() throws Exception {
        server.close();
        BlockDevice failing = new ForwardingDevice(disk0) {
            @Override
            public CompletableFuture<ByteBuf> read(long offset, int length) {
                return CompletableFuture.failedFuture(new BlockException("export disk0: read at " + offset
                    + ": disk on fire", Dmsg.ERR_IO));
            }

            @Override
            public CompletableFuture<Void> flush() {
                return CompletableFuture.failedFuture(new BlockException("no", Dmsg.ERR_LOSTLINK));
            }

            @Override
            public CompletableFuture<Void> write(long offset, ByteBuf data, boolean fua) {
                data.release();
                throw new IllegalStateException("a broken device");
            }
        };
        server = NbdServer.builder().export("disk0", failing).bind("127.0.0.1", 0);
        try (RawNbdClient c = connectTo("disk0")) {
            assertThat(c.call(Nbd.CMD_READ, 0, 0, 4096, null).error()).isEqualTo(Nbd.EIO);
            assertThat(c.call(Nbd.CMD_FLUSH, 0, 0, 0, null).error()).isEqualTo(Nbd.EIO);
            assertThat(c.call(Nbd.CMD_WRITE, 0, 0, 4, new byte[4]).error()).isEqualTo(Nbd.EIO);
            assertThat(c.call(Nbd.CMD_WRITE_ZEROES, 0, 0, 4, null).error()).as("the rest still works").isZero();
        }
    }

    @Test
    void inFlightRequestsPerConnectionAreBounded() throws Exception {
        server.close();
        GatedDevice gated = new GatedDevice(disk0);
        server = NbdServer.builder().export("disk0", gated).maxInFlight(8).bind("127.0.0.1", 0);
        int n = 40;
        try (RawNbdClient c = connectTo("disk0")) {
            for (int i = 0; i < n; i++) {
                c.request(Nbd.CMD_READ, 0, i, i * 512L, 512, null);
            }
            c.flush();
            for (int i = 0; i < 8; i++) {
                assertThat(gated.started.poll(5, TimeUnit.SECONDS)).as("request %d reaches the device", i).isNotNull();
            }
            assertThat(gated.started.poll(300, TimeUnit.MILLISECONDS)).as("a 9th while 8 are in flight").isNull();
            for (int done = 0; done < n; done++) {
                gated.releaseOne();
                RawNbdClient.Reply r = c.readReply(x -> 512);
                assertThat(r.error()).isZero();
                if (done + 8 < n) {
                    assertThat(gated.started.poll(5, TimeUnit.SECONDS)).as("the next one starts").isNotNull();
                }
                assertThat(gated.maxOutstanding()).isLessThanOrEqualTo(8);
            }
        }
    }

    @Test
    void inFlightPayloadBytesAreBoundedToo() throws Exception {
        server.close();
        GatedDevice gated = new GatedDevice(disk0);
        server = NbdServer.builder().export("disk0", gated).maxInFlightBytes(1024).bind("127.0.0.1", 0);
        try (RawNbdClient c = connectTo("disk0")) {
            for (int i = 0; i < 6; i++) {
                c.request(Nbd.CMD_READ, 0, i, i * 512L, 512, null);
            }
            c.flush();
            for (int i = 0; i < 2; i++) {
                assertThat(gated.started.poll(5, TimeUnit.SECONDS)).isNotNull();
            }
            assertThat(gated.started.poll(300, TimeUnit.MILLISECONDS)).as("a 3rd while 1024 bytes are in flight").isNull();
            for (int i = 0; i < 6; i++) {
                gated.releaseOne();
                assertThat(c.readReply(x -> 512).error()).isZero();
            }
            assertThat(gated.maxOutstanding()).isEqualTo(2);
        }
    }

    @Test
    void slowHandshakesAndConnectionsOverTheLimitAreClosed() throws Exception {
        server.close();
        server = NbdServer.builder().export("disk0", disk0).maxConnections(1)
            .handshakeTimeout(Duration.ofMillis(200)).bind("127.0.0.1", 0);
        try (RawNbdClient slow = connect()) {
            slow.handshake();
            assertThat(slow.closedByServer()).as("no option within 200 ms").isTrue();
        }
        // The server lets go of the slow one on its own thread: wait for that, or 'first' would be
        // over the limit of one (a race this test used to lose now and then).
        Await.until(() -> server.connections() == 0, Duration.ofSeconds(5),
            "the server forgets the timed-out connection");
        try (RawNbdClient first = connectTo("disk0"); RawNbdClient second = connect()) {
            assertThat(second.closedByServer()).as("over maxConnections").isTrue();
            assertThat(first.call(Nbd.CMD_READ, 0, 0, 512, null).error()).isZero();
        }
    }

    @Test
    void closingTheServerDrainsInFlightRequestsAndClosesIdleClients() throws Exception {
        server.close();
        GatedDevice gated = new GatedDevice(disk0);
        server = NbdServer.builder().export("disk0", gated).bind("127.0.0.1", 0);
        try (RawNbdClient busy = connectTo("disk0"); RawNbdClient handshaking = connect()) {
            handshaking.handshake();
            busy.request(Nbd.CMD_READ, 0, 42, 0, 512, null);
            busy.flush();
            assertThat(gated.started.poll(5, TimeUnit.SECONDS)).isNotNull();
            CompletableFuture<Void> closed = CompletableFuture.runAsync(server::close);
            assertThat(handshaking.closedByServer()).isTrue();
            gated.releaseOne();
            RawNbdClient.Reply r = busy.readReply(x -> 512);
            assertThat(r.cookie()).isEqualTo(42);
            assertThat(r.error()).isZero();
            assertThat(busy.closedByServer()).isTrue();
            closed.get(10, TimeUnit.SECONDS);
            server = null;
        }
    }

    /** Passes every call through to another device. */
    static class ForwardingDevice implements BlockDevice {
        final BlockDevice d;

        ForwardingDevice(BlockDevice d) {
            this.d = d;
        }

        @Override
        public String name() {
            return d.name();
        }

        @Override
        public long sizeBytes() {
            return d.sizeBytes();
        }

        @Override
        public int blockSize() {
            return d.blockSize();
        }

        @Override
        public boolean readOnly() {
            return d.readOnly();
        }

        @Override
        public CompletableFuture<ByteBuf> read(long offset, int length) {
            return d.read(offset, length);
        }

        @Override
        public CompletableFuture<Void> write(long offset, ByteBuf data, boolean fua) {
            return d.write(offset, data, fua);
        }

        @Override
        public CompletableFuture<Void> flush() {
            return d.flush();
        }

        @Override
        public CompletableFuture<Void> trim(long offset, long length) {
            return d.trim(offset, length);
        }

        @Override
        public CompletableFuture<Void> writeZeroes(long offset, long length, boolean fua) {
            return d.writeZeroes(offset, length, fua);
        }

        @Override
        public void close() {
        }
    }

    /** Holds every read until the test releases it, one at a time, in arrival order; counts what is outstanding. */
    static final class GatedDevice extends ForwardingDevice {
        final BlockingQueue<Long> started = new LinkedBlockingQueue<>();
        private final BlockingQueue<Runnable> held = new LinkedBlockingQueue<>();
        private int outstanding;
        private int maxOutstanding;

        GatedDevice(BlockDevice d) {
            super(d);
        }

        @Override
        public CompletableFuture<ByteBuf> read(long offset, int length) {
            CompletableFuture<ByteBuf> f = new CompletableFuture<>();
            synchronized (this) {
                outstanding++;
                maxOutstanding = Math.max(maxOutstanding, outstanding);
            }
            held.add(() -> d.read(offset, length).whenComplete((b, t) -> {
                synchronized (this) {
                    outstanding--;
                }
                if (t != null) {
                    f.completeExceptionally(t);
                } else {
                    f.complete(b);
                }
            }));
            started.add(offset);
            return f;
        }

        void releaseOne() throws InterruptedException {
            Runnable r = held.poll(5, TimeUnit.SECONDS);
            assertThat(r).as("a held request").isNotNull();
            r.run();
        }

        synchronized int maxOutstanding() {
            return maxOutstanding;
        }
    }
}
