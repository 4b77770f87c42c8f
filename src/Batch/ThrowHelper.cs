using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Perf.Batch;

// Throw sites stay out of hot methods: each helper builds its exception in a NoInlining method.
internal static class ThrowHelper
{
    [DoesNotReturn]
    internal static void ThrowSocket(string operation, int errno, string? detail = null) => throw CreateSocket(operation, errno, detail);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static PerfSocketException CreateSocket(string operation, int errno, string? detail) => new(operation, errno, detail);

    [DoesNotReturn]
    internal static void ThrowArgument(string message, string paramName) => throw CreateArgument(message, paramName);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ArgumentException CreateArgument(string message, string paramName) => new(message, paramName);

    [DoesNotReturn]
    internal static void ThrowArgumentOutOfRange(string paramName, string message) => throw CreateArgumentOutOfRange(paramName, message);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ArgumentOutOfRangeException CreateArgumentOutOfRange(string paramName, string message) => new(paramName, message);

    [DoesNotReturn]
    internal static void ThrowInvalidOperation(string message) => throw CreateInvalidOperation(message);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static InvalidOperationException CreateInvalidOperation(string message) => new(message);

    [DoesNotReturn]
    internal static void ThrowObjectDisposed(object instance) => throw CreateObjectDisposed(instance);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ObjectDisposedException CreateObjectDisposed(object instance) => new(instance.GetType().FullName);

    [DoesNotReturn]
    internal static void ThrowPayloadTooLarge(int length, int max) =>
        throw CreateArgument("Payload of " + length.ToString(System.Globalization.CultureInfo.InvariantCulture) +
            " bytes exceeds MaxDatagramSize " + max.ToString(System.Globalization.CultureInfo.InvariantCulture) + "; nothing was queued.", "payload");

    [DoesNotReturn]
    internal static void ThrowEmptyPayload() =>
        throw CreateArgument("Payload is empty; a datagram needs at least 1 byte. Nothing was queued.", "payload");
}
