using System.Runtime.CompilerServices;

namespace Perf.Batch;

/// <summary>Encodes control messages into a slot's cmsg area (LP64: 16-byte header, 8-byte alignment).</summary>
internal static unsafe class CmsgWriter
{
    /// <summary>Writes a SOL_SOCKET/SO_PRIORITY cmsg at <paramref name="dst"/>; returns the bytes used, CMSG_SPACE(4) = 24.</summary>
    /// <remarks>Safety: <paramref name="dst"/> is 8-aligned with at least 24 writable bytes.</remarks>
    internal static int WriteU32(byte* dst, int level, int type, uint value)
    {
        var h = (Interop.CMsgHdr*)dst;
        h->Len = (nuint)Interop.CMsgLen(sizeof(uint)); // exactly CMSG_LEN(4) = 20, or the kernel answers EINVAL
        h->Level = level;
        h->Type = type;
        *(uint*)(dst + Interop.CMsgHdrSize) = value;
        *(uint*)(dst + Interop.CMsgHdrSize + sizeof(uint)) = 0; // CMSG_SPACE padding, kept deterministic
        return Interop.CMsgSpace(sizeof(uint));
    }

    internal static int WritePriority(byte* dst, uint priority) =>
        WriteU32(dst, Interop.SOL_SOCKET, Interop.SO_PRIORITY, priority);

    /// <summary>Where the u32 payload of a cmsg written at <paramref name="cmsg"/> lives (CMSG_DATA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint* DataU32(byte* cmsg) => (uint*)(cmsg + Interop.CMsgHdrSize);

    /// <summary>
    /// Finds a SOL_SOCKET/SO_PRIORITY cmsg in a received control buffer of <paramref name="controlLen"/> bytes
    /// (CMSG_FIRSTHDR/CMSG_NXTHDR walk).
    /// </summary>
    internal static bool TryReadPriority(byte* control, nuint controlLen, out uint priority)
    {
        nuint offset = 0;
        while (offset + Interop.CMsgHdrSize <= controlLen)
        {
            var h = (Interop.CMsgHdr*)(control + offset);
            if (h->Len < Interop.CMsgHdrSize || offset + h->Len > controlLen)
            {
                break;
            }

            if (h->Level == Interop.SOL_SOCKET && h->Type == Interop.SO_PRIORITY && h->Len >= (nuint)Interop.CMsgLen(sizeof(uint)))
            {
                priority = *DataU32((byte*)h);
                return true;
            }

            offset += (nuint)Interop.CMsgAlign((int)h->Len);
        }

        priority = 0;
        return false;
    }
}
