package dev.dmsg.quorum.raft;

import org.apache.ratis.RaftConfigKeys;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.rpc.RpcFactory;
import org.apache.ratis.rpc.RpcType;

/**
 * Our Ratis {@link RpcType} (docs/QUORUM.md §5): Ratis's requests over a {@link RaftTransport}
 * instead of its own gRPC or Netty sockets. Ratis names RPC types in its properties by class name
 * and makes them with the no-argument constructor ({@link RpcType#valueOf}); set it with
 * {@code RaftConfigKeys.Rpc.setType(properties, DmsgRpcType.INSTANCE)} — {@link RaftHost} does.
 * The transport reaches the factory through Ratis's {@link Parameters}.
 */
public final class DmsgRpcType implements RpcType {
    public static final DmsgRpcType INSTANCE = new DmsgRpcType();

    /** For Ratis's reflection ({@link RpcType#valueOf}); use {@link #INSTANCE}. */
    public DmsgRpcType() {}

    @Override
    public String name() {
        return DmsgRpcType.class.getName();
    }

    @Override
    public RpcFactory newFactory(Parameters parameters) {
        return new DmsgRpcFactory(RaftWiring.of(parameters));
    }

    /** Sets {@code properties} to use this RPC type. */
    static void use(RaftProperties properties) {
        RaftConfigKeys.Rpc.setType(properties, INSTANCE);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DmsgRpcType;
    }

    @Override
    public int hashCode() {
        return DmsgRpcType.class.hashCode();
    }

    @Override
    public String toString() {
        return "DMSG";
    }
}
