/**
 * The DMSG wire layer: bytes in, values out.
 *
 * <p>No sockets, threads, clocks or logging live here. The layer knows the 64-byte core header
 * ({@link Dmsg}), every extended header the seed defines ({@link ExtHeader} and its records), the
 * CRC-32C rules ({@link Crc}), and how a one-direction byte stream is cut into frames
 * ({@link FrameDecoder}, {@link FrameEncoder}). It depends only on {@code netty-buffer}, so that
 * aux data is handed on as a slice and never copied.
 *
 * <p>Sources: DragonFly's {@code sys/sys/dmsg.h} (Nov 2012), docs/REFERENCE.md §1 and
 * docs/PROFILE.md §1.
 */
package dev.dmsg.wire;
