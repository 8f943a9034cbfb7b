lrlaw --help
