package dev.dmsg.services.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.function.LongToIntFunction;
import javax.net.ssl.SSLSocket;

/**
 * A hand-written NBD client for protocol tests: every field written and read by hand, nothing
 * hidden, so a test can send exactly the bytes it means (including wrong ones). Blocking sockets
 * with a read timeout; one test thread.
 */
final class RawNbdClient implements AutoCloseable {
    final Socket socket;
    final SocketChannel unix;
    DataInputStream in;
    DataOutputStream out;

    /** An option reply: its option, type and data. */
    record OptionReply(int option, int type, byte[] data) {
        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    /** A simple reply; {@code data} is read only when asked for (a successful READ). */
    record Reply(int error, long cookie, byte[] data) {}

    /** What NBD_OPT_GO / EXPORT_NAME told us. */
    record Export(long sizeBytes, int flags, int minBlock, int preferredBlock, int maxPayload) {}

    RawNbdClient(InetSocketAddress server) throws IOException {
        this(server, null);
    }

    /** Connects from {@code local} (e.g. 127.0.0.2: Linux loopback accepts all of 127/8), or any address if null. */
    RawNbdClient(InetSocketAddress server, String local) throws IOException {
        socket = new Socket();
        if (local != null) {
            socket.bind(new InetSocketAddress(local, 0));
        }
        socket.connect(server, 5000);
        socket.setSoTimeout(10_000);
        socket.setTcpNoDelay(true);
        unix = null;
        in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
        out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
    }

    /** Over a socket the caller connected. */
    RawNbdClient(Socket connected) throws IOException {
        socket = connected;
        unix = null;
        in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
        out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
    }

    /** Over a Unix socket (blocking channel streams; no read timeout: tests bound it with @Timeout). */
    RawNbdClient(Path socketPath) throws IOException {
        socket = null;
        unix = SocketChannel.open(StandardProtocolFamily.UNIX);
        unix.connect(UnixDomainSocketAddress.of(socketPath));
        in = new DataInputStream(new BufferedInputStream(Channels.newInputStream(unix)));
        out = new DataOutputStream(new BufferedOutputStream(Channels.newOutputStream(unix), 1 << 16));
    }

    /** From here on, reads and writes go through {@code tls} (after NBD_OPT_STARTTLS's ACK). */
    void upgrade(SSLSocket tls) throws IOException {
        tls.startHandshake();
        in = new DataInputStream(new BufferedInputStream(tls.getInputStream()));
        out = new DataOutputStream(new BufferedOutputStream(tls.getOutputStream(), 1 << 16));
    }

    /** Reads the server's greeting and answers with {@code clientFlags}; returns the handshake flags. */
    int handshake(int clientFlags) throws IOException {
        assertThat(in.readLong()).as("NBDMAGIC").isEqualTo(Nbd.NBDMAGIC);
        assertThat(in.readLong()).as("IHAVEOPT").isEqualTo(Nbd.IHAVEOPT);
        int flags = in.readUnsignedShort();
        out.writeInt(clientFlags);
        out.flush();
        return flags;
    }

    int handshake() throws IOException {
        return handshake(Nbd.FLAG_C_FIXED_NEWSTYLE | Nbd.FLAG_C_NO_ZEROES);
    }

    void sendOption(int option, byte[] data) throws IOException {
        out.writeLong(Nbd.IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    OptionReply readOptionReply() throws IOException {
        assertThat(in.readLong()).as("option reply magic").isEqualTo(Nbd.REPLY_MAGIC);
        int option = in.readInt();
        int type = in.readInt();
        int length = in.readInt();
        assertThat(length).as("option reply length").isBetween(0, 1 << 20);
        byte[] data = new byte[length];
        in.readFully(data);
        return new OptionReply(option, type, data);
    }

    /** The data of NBD_OPT_INFO / NBD_OPT_GO. */
    static byte[] infoRequest(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length);
        b.putInt(n.length).put(n).putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    /** NBD_OPT_GO for {@code name} asking for the block sizes; fails the test unless it ends in ACK. */
    Export go(String name) throws IOException {
        sendOption(Nbd.OPT_GO, infoRequest(name, Nbd.INFO_BLOCK_SIZE));
        long size = -1;
        int flags = -1;
        int min = -1;
        int preferred = -1;
        int max = -1;
        while (true) {
            OptionReply r = readOptionReply();
            assertThat(r.option()).isEqualTo(Nbd.OPT_GO);
            if (r.type() == Nbd.REP_ACK) {
                break;
            }
            assertThat(r.type()).as("reply type (%s)", r.text()).isEqualTo(Nbd.REP_INFO);
            ByteBuffer b = ByteBuffer.wrap(r.data());
            int info = b.getShort() & 0xffff;
            if (info == Nbd.INFO_EXPORT) {
                size = b.getLong();
                flags = b.getShort() & 0xffff;
            } else if (info == Nbd.INFO_BLOCK_SIZE) {
                min = b.getInt();
                preferred = b.getInt();
                max = b.getInt();
            }
        }
        return new Export(size, flags, min, preferred, max);
    }

    void request(int type, int flags, long cookie, long offset, long length, byte[] payload) throws IOException {
        out.writeInt(Nbd.REQUEST_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(cookie);
        out.writeLong(offset);
        out.writeInt((int) length);
        if (payload != null) {
            out.write(payload);
        }
    }

    void flush() throws IOException {
        out.flush();
    }

    /** Reads one reply header; {@code dataBytes} of data follow it when the caller says so. */
    Reply readReply(LongToIntFunction dataBytesFor) throws IOException {
        assertThat(in.readInt()).as("simple reply magic").isEqualTo(Nbd.SIMPLE_REPLY_MAGIC);
        int error = in.readInt();
        long cookie = in.readLong();
        byte[] data = null;
        if (error == 0) {
            int n = dataBytesFor.applyAsInt(cookie);
            if (n > 0) {
                data = new byte[n];
                in.readFully(data);
            }
        }
        return new Reply(error, cookie, data);
    }

    /** One request, one reply (no data expected unless it is a READ of {@code length}). */
    Reply call(int type, int flags, long offset, long length, byte[] payload) throws IOException {
        long cookie = System.nanoTime();
        request(type, flags, cookie, offset, length, payload);
        flush();
        Reply r = readReply(c -> type == Nbd.CMD_READ ? (int) length : 0);
        assertThat(r.cookie()).as("cookie").isEqualTo(cookie);
        return r;
    }

    /** True once the server has closed the connection (EOF or reset), within the read timeout. */
    boolean closedByServer() throws IOException {
        try {
            while (true) {
                if (in.read() < 0) {
                    return true;
                }
            }
        } catch (EOFException | SocketException e) {
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            if (unix != null) {
                return true; // a reset on a Unix socket ("Connection reset by peer")
            }
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        if (socket != null) {
            socket.close();
        } else {
            unix.close();
        }
    }
}
