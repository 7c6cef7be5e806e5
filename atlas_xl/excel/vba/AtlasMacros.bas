Attribute VB_Name = "AtlasMacros"
' Atlas Settlement: the Dashboard buttons. Each sub runs one Python function of atlas_xl.macros through
' xlwings (RunPython); the Python side writes what it did to the Dashboard's status cell.
' Generated into the workbook by atlas_xl.workbook - edit this file, not the workbook.
Option Explicit

Sub AtlasLoadData()
    RunPython "import atlas_xl.macros; atlas_xl.macros.load_data()"
End Sub

Sub AtlasRefreshAll()
    RunPython "import atlas_xl.macros; atlas_xl.macros.refresh_all()"
End Sub

Sub AtlasProposeRun()
    RunPython "import atlas_xl.macros; atlas_xl.macros.propose_run()"
End Sub

Sub AtlasApproveRun()
    RunPython "import atlas_xl.macros; atlas_xl.macros.approve_run()"
End Sub

Sub AtlasGenerateSepa()
    RunPython "import atlas_xl.macros; atlas_xl.macros.generate_sepa()"
End Sub

Sub AtlasExportReport()
    RunPython "import atlas_xl.macros; atlas_xl.macros.export_report()"
End Sub

Public Function AtlasProbe_AtlasMacros() As String
    ' answers the module's name: proves in a headless LibreOffice that this module compiles
    AtlasProbe_AtlasMacros = "AtlasMacros"
End Function
