package dev.dmsg.link.tls;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The two messages of the join exchange, version 1 (docs/IDENTITY.md §2.6): the aux of
 * {@code LNK_JOIN} (the joiner's request) and of {@code LNK_JOIN|REPLY} (the answer). Our
 * extension, only ever sent inside TLS between our nodes. All integers little-endian, as the
 * seed's structures. Pure functions.
 *
 * <pre>
 * request (32 bytes)                         answer
 * 0x00 u32 magic 0x31514A44 "DJQ1"           0x00 u32 magic 0x31414A44 "DJA1"
 * 0x04 u16 version 1                         0x04 u16 version 1
 * 0x06 u16 flags 0                           0x06 u16 status
 * 0x08 8   token_id                          0x08 u16 cert_count
 * 0x10 16  secret                            0x0A u16 text_bytes
 *                                            0x0C u32 crl_bytes
 *                                            0x10 ... certs (u16 length + DER each), text (UTF-8), crl (DER)
 * </pre>
 */
public final class JoinMessages {
    private JoinMessages() {}

    /** {@code LNK_JOIN}: LNK protocol, cmd 0x0A1, header only. The answer is the same with REPLY. */
    public static final int LNK_JOIN = 0x0000A101;
    public static final int REQUEST_MAGIC = 0x31514A44;
    public static final int ANSWER_MAGIC = 0x31414A44;
    public static final int VERSION = 1;
    public static final int REQUEST_BYTES = 32;
    static final int ANSWER_HEADER_BYTES = 16;
    /** What an aux can carry (Dmsg.AUX_MAX); a revocation list that would not fit is left out. */
    static final int AUX_MAX = 65536;
    static final int MAX_CERTS = 8;

    /** The answer's status (docs/IDENTITY.md §2.6). */
    public enum Status {
        OK(0), MALFORMED(1), INVALID_TOKEN(2), EXPIRED(3), USED(4), NAME_TAKEN(5), CANNOT_ISSUE(6), BUSY(7);

        public final int code;

        Status(int code) {
            this.code = code;
        }

        static Status of(int code) {
            for (Status s : values()) {
                if (s.code == code) {
                    return s;
                }
            }
            throw new IllegalArgumentException("unknown join status " + code);
        }
    }

    /** {@code LNK_JOIN}'s aux: which token, and its secret. */
    public record Request(byte[] tokenId, byte[] secret) {
        public Request {
            if (tokenId.length != JoinToken.ID_BYTES || secret.length != JoinToken.SECRET_BYTES) {
                throw new IllegalArgumentException("a join request has an 8-byte token ID and a 16-byte secret");
            }
            tokenId = tokenId.clone();
            secret = secret.clone();
        }

        public static Request of(JoinToken t) {
            return new Request(t.idBytes(), t.secret());
        }

        @Override
        public byte[] tokenId() {
            return tokenId.clone();
        }

        @Override
        public byte[] secret() {
            return secret.clone();
        }

        public byte[] encode() {
            ByteBuffer b = ByteBuffer.allocate(REQUEST_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            b.putInt(REQUEST_MAGIC).putShort((short) VERSION).putShort((short) 0).put(tokenId).put(secret);
            return b.array();
        }

        /**
         * @throws IllegalArgumentException naming the field and both values
         */
        public static Request decode(byte[] aux) {
            if (aux.length != REQUEST_BYTES) {
                throw new IllegalArgumentException("join request aux_bytes " + aux.length + " != " + REQUEST_BYTES);
            }
            ByteBuffer b = ByteBuffer.wrap(aux).order(ByteOrder.LITTLE_ENDIAN);
            int magic = b.getInt();
            if (magic != REQUEST_MAGIC) {
                throw new IllegalArgumentException(String.format("join request magic read=0x%08x expected=0x%08x",
                    magic, REQUEST_MAGIC));
            }
            int version = b.getShort() & 0xFFFF;
            if (version != VERSION) {
                throw new IllegalArgumentException("join request version " + version + " (we speak " + VERSION + ")");
            }
            b.getShort(); // flags: none defined, ignored
            byte[] id = new byte[JoinToken.ID_BYTES];
            byte[] secret = new byte[JoinToken.SECRET_BYTES];
            b.get(id).get(secret);
            return new Request(id, secret);
        }
    }

    /**
     * {@code LNK_JOIN|REPLY}'s aux.
     *
     * @param certs on OK: the new certificate, its issuer, the root
     * @param text on a refusal, why (for the joiner's operator); "" on OK
     * @param crl the issuer node's revocation list (DER), or {@code null}
     */
    public record Answer(Status status, List<X509Certificate> certs, String text, byte[] crl) {
        public Answer {
            Objects.requireNonNull(status, "status");
            certs = List.copyOf(certs);
            text = text == null ? "" : text;
        }

        public static Answer refused(Status s, String why) {
            return new Answer(s, List.of(), why, null);
        }

        public byte[] encode() {
            List<byte[]> ders = new ArrayList<>();
            int size = ANSWER_HEADER_BYTES;
            try {
                for (X509Certificate c : certs) {
                    byte[] d = c.getEncoded();
                    ders.add(d);
                    size += 2 + d.length;
                }
            } catch (CertificateEncodingException e) {
                throw new IllegalStateException(e);
            }
            byte[] t = text.getBytes(StandardCharsets.UTF_8);
            if (t.length > 4096) {
                t = Arrays.copyOf(t, 4096);
            }
            size += t.length;
            byte[] c = crl == null || size + crl.length > AUX_MAX ? new byte[0] : crl; // the list also comes by LNK_CRL
            size += c.length;
            ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
            b.putInt(ANSWER_MAGIC).putShort((short) VERSION).putShort((short) status.code).putShort((short) ders.size())
                .putShort((short) t.length).putInt(c.length);
            for (byte[] d : ders) {
                b.putShort((short) d.length).put(d);
            }
            b.put(t).put(c);
            return b.array();
        }

        /**
         * @throws IllegalArgumentException naming what does not fit
         */
        public static Answer decode(byte[] aux) {
            if (aux.length < ANSWER_HEADER_BYTES) {
                throw new IllegalArgumentException("join answer aux_bytes " + aux.length + " < " + ANSWER_HEADER_BYTES);
            }
            ByteBuffer b = ByteBuffer.wrap(aux).order(ByteOrder.LITTLE_ENDIAN);
            int magic = b.getInt();
            if (magic != ANSWER_MAGIC) {
                throw new IllegalArgumentException(String.format("join answer magic read=0x%08x expected=0x%08x",
                    magic, ANSWER_MAGIC));
            }
            int version = b.getShort() & 0xFFFF;
            if (version != VERSION) {
                throw new IllegalArgumentException("join answer version " + version + " (we speak " + VERSION + ")");
            }
            Status status = Status.of(b.getShort() & 0xFFFF);
            int count = b.getShort() & 0xFFFF;
            int textBytes = b.getShort() & 0xFFFF;
            long crlBytes = b.getInt() & 0xFFFFFFFFL;
            if (count > MAX_CERTS) {
                throw new IllegalArgumentException("join answer cert_count " + count + " > max " + MAX_CERTS);
            }
            List<X509Certificate> certs = new ArrayList<>();
            try {
                CertificateFactory f = CertificateFactory.getInstance("X.509");
                for (int i = 0; i < count; i++) {
                    need(b, 2, "certificate " + i + " length");
                    int len = b.getShort() & 0xFFFF;
                    need(b, len, "certificate " + i);
                    byte[] d = new byte[len];
                    b.get(d);
                    certs.add((X509Certificate) f.generateCertificate(new ByteArrayInputStream(d)));
                }
            } catch (CertificateException e) {
                throw new IllegalArgumentException("join answer: a certificate Java cannot read: " + e.getMessage(), e);
            }
            need(b, textBytes, "text");
            byte[] t = new byte[textBytes];
            b.get(t);
            need(b, crlBytes, "crl");
            byte[] c = new byte[(int) crlBytes];
            b.get(c);
            if (b.hasRemaining()) {
                throw new IllegalArgumentException("join answer: " + b.remaining() + " bytes after the crl");
            }
            return new Answer(status, certs, new String(t, StandardCharsets.UTF_8), c.length == 0 ? null : c);
        }

        private static void need(ByteBuffer b, long bytes, String what) {
            if (b.remaining() < bytes) {
                throw new IllegalArgumentException("join answer: " + what + " needs " + bytes + " bytes, "
                    + b.remaining() + " left");
            }
        }
    }
}
