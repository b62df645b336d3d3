package dev.dmsg.services.nbd;

/**
 * Constants of the NBD protocol (NetworkBlockDevice/nbd {@code doc/proto.md}), name for name
 * without the {@code NBD_} prefix. Every field on the wire is big-endian (network order).
 *
 * <p>Fixed-newstyle handshake, server first:
 *
 * <pre>
 *  S: 0x00 NBDMAGIC u64 | 0x08 IHAVEOPT u64 | 0x10 handshake flags u16
 *  C: 0x00 client flags u32
 * </pre>
 *
 * <p>An option (client), and an option reply (server):
 *
 * <pre>
 *  C: 0x00 IHAVEOPT u64 | 0x08 option u32 | 0x0C length u32 | 0x10 data[length]
 *  S: 0x00 REPLY_MAGIC u64 | 0x08 option u32 | 0x0C reply type u32 | 0x10 length u32 | 0x14 data[length]
 * </pre>
 *
 * <p>A request (client), and a simple reply (server):
 *
 * <pre>
 *  C: 0x00 REQUEST_MAGIC u32 | 0x04 flags u16 | 0x06 type u16 | 0x08 cookie u64
 *     0x10 offset u64        | 0x18 length u32                 | 0x1C data[length] (WRITE only)
 *  S: 0x00 SIMPLE_REPLY_MAGIC u32 | 0x04 error u32 | 0x08 cookie u64 | 0x10 data[length] (READ, error 0)
 * </pre>
 */
final class Nbd {
    private Nbd() {}

    // ---- magics ----
    /** ASCII "NBDMAGIC". */
    static final long NBDMAGIC = 0x4e42444d41474943L;
    /** ASCII "IHAVEOPT": after NBDMAGIC from the server, and before every option from the client. */
    static final long IHAVEOPT = 0x49484156454F5054L;
    static final long REPLY_MAGIC = 0x3e889045565a9L;
    static final int REQUEST_MAGIC = 0x25609513;
    static final int SIMPLE_REPLY_MAGIC = 0x67446698;

    // ---- sizes ----
    static final int HANDSHAKE_BYTES = 18;
    static final int OPTION_HEADER_BYTES = 16;
    static final int REQUEST_HEADER_BYTES = 28;
    static final int SIMPLE_REPLY_BYTES = 16;
    /** Zeros after NBD_OPT_EXPORT_NAME's answer unless NO_ZEROES was agreed. */
    static final int EXPORT_NAME_PAD_BYTES = 124;
    /** The longest export name the protocol allows (proto.md "Strings"). */
    static final int MAX_NAME_BYTES = 4096;

    // ---- handshake flags (server, u16) ----
    static final int FLAG_FIXED_NEWSTYLE = 1 << 0;
    static final int FLAG_NO_ZEROES = 1 << 1;

    // ---- client flags (u32) ----
    static final int FLAG_C_FIXED_NEWSTYLE = 1 << 0;
    static final int FLAG_C_NO_ZEROES = 1 << 1;

    // ---- transmission flags (u16) ----
    static final int FLAG_HAS_FLAGS = 1 << 0;
    static final int FLAG_READ_ONLY = 1 << 1;
    static final int FLAG_SEND_FLUSH = 1 << 2;
    static final int FLAG_SEND_FUA = 1 << 3;
    static final int FLAG_ROTATIONAL = 1 << 4;
    static final int FLAG_SEND_TRIM = 1 << 5;
    static final int FLAG_SEND_WRITE_ZEROES = 1 << 6;
    static final int FLAG_SEND_DF = 1 << 7;
    static final int FLAG_CAN_MULTI_CONN = 1 << 8;
    static final int FLAG_SEND_CACHE = 1 << 10;
    static final int FLAG_SEND_FAST_ZERO = 1 << 11;

    // ---- options ----
    static final int OPT_EXPORT_NAME = 1;
    static final int OPT_ABORT = 2;
    static final int OPT_LIST = 3;
    static final int OPT_STARTTLS = 5;
    static final int OPT_INFO = 6;
    static final int OPT_GO = 7;
    static final int OPT_STRUCTURED_REPLY = 8;
    static final int OPT_LIST_META_CONTEXT = 9;
    static final int OPT_SET_META_CONTEXT = 10;
    static final int OPT_EXTENDED_HEADERS = 11;

    // ---- option reply types ----
    static final int REP_ACK = 1;
    static final int REP_SERVER = 2;
    static final int REP_INFO = 3;
    static final int REP_FLAG_ERROR = 1 << 31;
    static final int REP_ERR_UNSUP = REP_FLAG_ERROR | 1;
    static final int REP_ERR_POLICY = REP_FLAG_ERROR | 2;
    static final int REP_ERR_INVALID = REP_FLAG_ERROR | 3;
    static final int REP_ERR_PLATFORM = REP_FLAG_ERROR | 4;
    static final int REP_ERR_TLS_REQD = REP_FLAG_ERROR | 5;
    static final int REP_ERR_UNKNOWN = REP_FLAG_ERROR | 6;
    static final int REP_ERR_SHUTDOWN = REP_FLAG_ERROR | 7;
    static final int REP_ERR_BLOCK_SIZE_REQD = REP_FLAG_ERROR | 8;
    static final int REP_ERR_TOO_BIG = REP_FLAG_ERROR | 9;

    // ---- NBD_REP_INFO types (u16) ----
    static final int INFO_EXPORT = 0;
    static final int INFO_NAME = 1;
    static final int INFO_DESCRIPTION = 2;
    static final int INFO_BLOCK_SIZE = 3;

    // ---- commands (u16) ----
    static final int CMD_READ = 0;
    static final int CMD_WRITE = 1;
    static final int CMD_DISC = 2;
    static final int CMD_FLUSH = 3;
    static final int CMD_TRIM = 4;
    static final int CMD_CACHE = 5;
    static final int CMD_WRITE_ZEROES = 6;
    static final int CMD_BLOCK_STATUS = 7;

    // ---- command flags (u16) ----
    static final int CMD_FLAG_FUA = 1 << 0;
    static final int CMD_FLAG_NO_HOLE = 1 << 1;
    static final int CMD_FLAG_DF = 1 << 2;
    static final int CMD_FLAG_REQ_ONE = 1 << 3;
    static final int CMD_FLAG_FAST_ZERO = 1 << 4;

    // ---- errors (u32, in the simple reply) ----
    static final int EPERM = 1;
    static final int EIO = 5;
    static final int ENOMEM = 12;
    static final int EINVAL = 22;
    static final int ENOSPC = 28;
    static final int EOVERFLOW = 75;
    static final int ENOTSUP = 95;
    static final int ESHUTDOWN = 108;

    /** The command's name for log lines: {@code NBD_CMD_READ}, or {@code NBD_CMD_#9} for an unknown one. */
    static String commandName(int type) {
        return switch (type) {
            case CMD_READ -> "NBD_CMD_READ";
            case CMD_WRITE -> "NBD_CMD_WRITE";
            case CMD_DISC -> "NBD_CMD_DISC";
            case CMD_FLUSH -> "NBD_CMD_FLUSH";
            case CMD_TRIM -> "NBD_CMD_TRIM";
            case CMD_CACHE -> "NBD_CMD_CACHE";
            case CMD_WRITE_ZEROES -> "NBD_CMD_WRITE_ZEROES";
            case CMD_BLOCK_STATUS -> "NBD_CMD_BLOCK_STATUS";
            default -> "NBD_CMD_#" + type;
        };
    }

    static String optionName(int option) {
        return switch (option) {
            case OPT_EXPORT_NAME -> "NBD_OPT_EXPORT_NAME";
            case OPT_ABORT -> "NBD_OPT_ABORT";
            case OPT_LIST -> "NBD_OPT_LIST";
            case OPT_STARTTLS -> "NBD_OPT_STARTTLS";
            case OPT_INFO -> "NBD_OPT_INFO";
            case OPT_GO -> "NBD_OPT_GO";
            case OPT_STRUCTURED_REPLY -> "NBD_OPT_STRUCTURED_REPLY";
            case OPT_LIST_META_CONTEXT -> "NBD_OPT_LIST_META_CONTEXT";
            case OPT_SET_META_CONTEXT -> "NBD_OPT_SET_META_CONTEXT";
            case OPT_EXTENDED_HEADERS -> "NBD_OPT_EXTENDED_HEADERS";
            default -> "NBD_OPT_#" + Integer.toUnsignedString(option);
        };
    }

    static String errorName(int error) {
        return switch (error) {
            case 0 -> "OK";
            case EPERM -> "NBD_EPERM";
            case EIO -> "NBD_EIO";
            case ENOMEM -> "NBD_ENOMEM";
            case EINVAL -> "NBD_EINVAL";
            case ENOSPC -> "NBD_ENOSPC";
            case EOVERFLOW -> "NBD_EOVERFLOW";
            case ENOTSUP -> "NBD_ENOTSUP";
            case ESHUTDOWN -> "NBD_ESHUTDOWN";
            default -> "NBD_E#" + error;
        };
    }
}
