"""The entrances: the `iluo-sync` command line (app.cli), the demo (app.demo) and, later, the
web console — what a person or a process starts, composing the layers below.

Each layer imports only from those below it (tests/foundation/test_layers.py holds this):

    app/         entrances: the command line, the demo, the console
    producers/   the clock and the tick          workers/   actors, engine, operations, shops
    shared/      what both stand on: settings, broker, message contract, control and ERP tables
"""
