// Every stackalloc in this assembly is written before it is read (STYLE §5).
[module: System.Runtime.CompilerServices.SkipLocalsInit]
