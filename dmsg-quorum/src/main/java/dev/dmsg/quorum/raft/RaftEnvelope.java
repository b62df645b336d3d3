package dev.dmsg.quorum.raft;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.function.Function;
import org.apache.ratis.proto.RaftProtos.RaftRpcReplyProto;
import org.apache.ratis.proto.RaftProtos.RaftRpcRequestProto;
import org.apache.ratis.proto.RaftProtos.ReadIndexReplyProto;
import org.apache.ratis.proto.RaftProtos.ReadIndexRequestProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyExceptionReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerReplyProto;
import org.apache.ratis.proto.netty.NettyProtos.RaftNettyServerRequestProto;
import org.apache.ratis.protocol.exceptions.AlreadyClosedException;
import org.apache.ratis.protocol.exceptions.GroupMismatchException;
import org.apache.ratis.protocol.exceptions.ReadIndexException;
import org.apache.ratis.protocol.exceptions.ServerNotReadyException;
import org.apache.ratis.protocol.exceptions.TimeoutIOException;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.thirdparty.com.google.protobuf.InvalidProtocolBufferException;

/**
 * The bytes a {@link RaftTransport} carries (docs/QUORUM.md §5): one tag byte, then a Ratis
 * protobuf. Tag 1 is Ratis's Netty envelope ({@code RaftNettyServerRequestProto} /
 * {@code RaftNettyServerReplyProto}, as Ratis's own NettyRpcService speaks it); tag 2 is a
 * {@code ReadIndexRequestProto} / {@code ReadIndexReplyProto}, which the Netty envelope has no
 * case for and a follower's linearizable read needs.
 *
 * <p>An error travels as the Netty envelope's exception reply, but its {@code exception} bytes
 * are {@code CLASS '\n' MESSAGE} in UTF-8, not the Java serialisation Ratis's Netty RPC puts
 * there: we never deserialise objects a peer chose. The receiver rebuilds the few Ratis
 * exception types whose class matters to Ratis's retry logic, and a plain IOException otherwise.
 */
final class RaftEnvelope {
    static final byte NETTY = 1;
    static final byte READ_INDEX = 2;

    /** Exceptions rebuilt by class; any other is an IOException carrying the class name. */
    private static final Map<String, Function<String, IOException>> KNOWN = Map.of(
        ServerNotReadyException.class.getName(), ServerNotReadyException::new,
        GroupMismatchException.class.getName(), GroupMismatchException::new,
        AlreadyClosedException.class.getName(), AlreadyClosedException::new,
        TimeoutIOException.class.getName(), TimeoutIOException::new,
        ReadIndexException.class.getName(), ReadIndexException::new);

    private RaftEnvelope() {}

    /** A received request: exactly one of {@code netty} and {@code readIndex} is set. */
    record Request(RaftNettyServerRequestProto netty, ReadIndexRequestProto readIndex) {
        /** The RPC header inside, whatever the case. */
        RaftRpcRequestProto rpc() {
            if (readIndex != null) {
                return readIndex.getServerRequest();
            }
            return switch (netty.getRaftNettyServerRequestCase()) {
                case REQUESTVOTEREQUEST -> netty.getRequestVoteRequest().getServerRequest();
                case APPENDENTRIESREQUEST -> netty.getAppendEntriesRequest().getServerRequest();
                case INSTALLSNAPSHOTREQUEST -> netty.getInstallSnapshotRequest().getServerRequest();
                case STARTLEADERELECTIONREQUEST -> netty.getStartLeaderElectionRequest().getServerRequest();
                case RAFTCLIENTREQUEST -> netty.getRaftClientRequest().getRpcRequest();
                case SETCONFIGURATIONREQUEST -> netty.getSetConfigurationRequest().getRpcRequest();
                case GROUPMANAGEMENTREQUEST -> netty.getGroupManagementRequest().getRpcRequest();
                case GROUPLISTREQUEST -> netty.getGroupListRequest().getRpcRequest();
                case GROUPINFOREQUEST -> netty.getGroupInfoRequest().getRpcRequest();
                case TRANSFERLEADERSHIPREQUEST -> netty.getTransferLeadershipRequest().getRpcRequest();
                case SNAPSHOTMANAGEMENTREQUEST -> netty.getSnapshotManagementRequest().getRpcRequest();
                case LEADERELECTIONMANAGEMENTREQUEST -> netty.getLeaderElectionManagementRequest().getRpcRequest();
                case RAFTNETTYSERVERREQUEST_NOT_SET -> RaftRpcRequestProto.getDefaultInstance();
            };
        }

        /**
         * Whether it is server-to-server traffic (vote, append, snapshot, election, read index),
         * whose requestor id is the sending member's peer id; otherwise it is a client request,
         * whose requestor id is a random client id.
         */
        boolean serverRpc() {
            if (readIndex != null) {
                return true;
            }
            return switch (netty.getRaftNettyServerRequestCase()) {
                case REQUESTVOTEREQUEST, APPENDENTRIESREQUEST, INSTALLSNAPSHOTREQUEST, STARTLEADERELECTIONREQUEST -> true;
                default -> false;
            };
        }

        String kind() {
            return readIndex != null ? "READINDEX" : netty.getRaftNettyServerRequestCase().name();
        }
    }

    static byte[] request(RaftNettyServerRequestProto p) {
        return tagged(NETTY, p.toByteArray());
    }

    static byte[] request(ReadIndexRequestProto p) {
        return tagged(READ_INDEX, p.toByteArray());
    }

    static byte[] reply(RaftNettyServerReplyProto p) {
        return tagged(NETTY, p.toByteArray());
    }

    static byte[] reply(ReadIndexReplyProto p) {
        return tagged(READ_INDEX, p.toByteArray());
    }

    /** An error reply to {@code request} (its rpc header echoed; may be null if it could not be read). */
    static byte[] error(RaftRpcRequestProto request, IOException e) {
        RaftRpcReplyProto.Builder rpc = RaftRpcReplyProto.newBuilder().setSuccess(false);
        if (request != null) {
            rpc.setRequestorId(request.getRequestorId()).setReplyId(request.getReplyId())
                .setRaftGroupId(request.getRaftGroupId()).setCallId(request.getCallId());
        }
        String text = e.getClass().getName() + "\n" + (e.getMessage() == null ? "" : e.getMessage());
        return reply(RaftNettyServerReplyProto.newBuilder().setExceptionReply(RaftNettyExceptionReplyProto.newBuilder()
            .setRpcReply(rpc).setException(ByteString.copyFrom(text, StandardCharsets.UTF_8))).build());
    }

    /** Reads a request; an IOException names what is wrong with it. */
    static Request parseRequest(byte[] b) throws IOException {
        if (b.length == 0) {
            throw new IOException("empty Raft request");
        }
        try {
            switch (b[0]) {
                case NETTY: {
                    RaftNettyServerRequestProto p = RaftNettyServerRequestProto.parser().parseFrom(b, 1, b.length - 1);
                    if (p.getRaftNettyServerRequestCase() == RaftNettyServerRequestProto.RaftNettyServerRequestCase
                        .RAFTNETTYSERVERREQUEST_NOT_SET) {
                        throw new IOException("Raft request envelope with no request in it");
                    }
                    return new Request(p, null);
                }
                case READ_INDEX:
                    return new Request(null, ReadIndexRequestProto.parser().parseFrom(b, 1, b.length - 1));
                default:
                    throw new IOException("Raft request tag " + (b[0] & 0xFF) + " (known: 1 envelope, 2 read index)");
            }
        } catch (InvalidProtocolBufferException e) {
            throw new IOException("malformed Raft request (tag " + b[0] + ", " + b.length + " bytes): "
                + e.getMessage(), e);
        }
    }

    /** Reads an envelope reply; an exception reply is thrown as the IOException it carries. */
    static RaftNettyServerReplyProto parseReply(byte[] b) throws IOException {
        RaftNettyServerReplyProto p = parse(b, NETTY);
        if (p == null) {
            throw new IOException("Raft reply tag " + (b.length == 0 ? "none" : b[0] & 0xFF) + " where 1 was expected");
        }
        return p;
    }

    /** Reads a read-index reply (or the exception reply sent instead). */
    static ReadIndexReplyProto parseReadIndexReply(byte[] b) throws IOException {
        if (b.length > 0 && b[0] == READ_INDEX) {
            try {
                return ReadIndexReplyProto.parser().parseFrom(b, 1, b.length - 1);
            } catch (InvalidProtocolBufferException e) {
                throw new IOException("malformed read-index reply: " + e.getMessage(), e);
            }
        }
        parse(b, NETTY); // throws the exception inside, if that is what it is
        throw new IOException("Raft reply to a read index is not a read-index reply");
    }

    private static RaftNettyServerReplyProto parse(byte[] b, byte tag) throws IOException {
        if (b.length == 0 || b[0] != tag) {
            return null;
        }
        RaftNettyServerReplyProto p;
        try {
            p = RaftNettyServerReplyProto.parser().parseFrom(b, 1, b.length - 1);
        } catch (InvalidProtocolBufferException e) {
            throw new IOException("malformed Raft reply (" + b.length + " bytes): " + e.getMessage(), e);
        }
        if (p.hasExceptionReply()) {
            throw exception(p.getExceptionReply().getException().toStringUtf8());
        }
        return p;
    }

    /** Rebuilds the exception of an error reply (see the class comment). */
    static IOException exception(String text) {
        int nl = text.indexOf('\n');
        String cls = nl < 0 ? "" : text.substring(0, nl);
        String msg = nl < 0 ? text : text.substring(nl + 1);
        Function<String, IOException> known = KNOWN.get(cls);
        if (known != null) {
            return known.apply(msg);
        }
        return new IOException(cls.isEmpty() || cls.equals(IOException.class.getName()) ? msg
            : cls.substring(cls.lastIndexOf('.') + 1) + ": " + msg);
    }

    private static byte[] tagged(byte tag, byte[] body) {
        byte[] out = new byte[body.length + 1];
        out[0] = tag;
        System.arraycopy(body, 0, out, 1, body.length);
        return out;
    }

}
