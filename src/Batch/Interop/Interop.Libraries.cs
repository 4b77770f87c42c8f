namespace Perf.Batch;

internal static partial class Interop
{
    internal static class Libraries
    {
        /// <summary>glibc (or musl); resolved by the loader as libc.so.6 / libc.so.</summary>
        internal const string Libc = "libc";
    }
}
