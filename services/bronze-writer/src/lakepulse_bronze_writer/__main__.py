from lakepulse_bronze_writer.main import main

main()
